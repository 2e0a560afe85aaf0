"""Every file read about the device and every external command goes through here, so tests can
point ``EDGEBENCH_FS_ROOT`` at a fake tree standing in for ``/`` and replace the command runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def root() -> Path:
    return Path(os.environ.get("EDGEBENCH_FS_ROOT") or "/")


def path(p: str | os.PathLike[str]) -> Path:
    """Map an absolute device path (``/sys/...``) into the current root."""
    return root() / str(p).lstrip("/")


def read(p: str | os.PathLike[str]) -> str:
    """File content; raises OSError (PermissionError for root-only files such as RAPL ``energy_uj``).

    Samplers that must tell "permission denied" from "absent" call this; tests patch it to fake
    a root-only file (root itself can read a chmod 000 file, so chmod cannot fake it)."""
    return path(p).read_text(errors="replace")


def read_text(p: str | os.PathLike[str]) -> str | None:
    """File content, or None when absent or unreadable (sysfs reads fail when a sensor is off)."""
    try:
        return read(p)
    except OSError:
        return None


def read_number(p: str | os.PathLike[str]) -> float | None:
    """A sysfs number file (``temp``, ``curr1_input``...), or None when absent, unreadable or not a number."""
    text = read_text(p)
    if text is None:
        return None
    try:
        return float(text.strip().rstrip("\x00").split()[0])
    except (ValueError, IndexError):
        return None


def exists(p: str | os.PathLike[str]) -> bool:
    return path(p).exists()


def device_path(real: Path) -> str:
    """The device path (``/sys/...``) of a path found under the current root."""
    try:
        return "/" + str(real.relative_to(root()))
    except ValueError:
        return str(real)


def glob(pattern: str) -> list[Path]:
    return sorted(root().glob(pattern.lstrip("/")))


CommandRunner = Callable[[Sequence[str], float], "str | None"]


def _run_real(argv: Sequence[str], timeout_s: float) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


_runner: CommandRunner = _run_real


def run_command(argv: Sequence[str], timeout_s: float = 5.0) -> str | None:
    """stdout of a device command, or None when the command is absent or fails."""
    return _runner(argv, timeout_s)


def set_command_runner(runner: CommandRunner | None) -> None:
    """Tests install recorded outputs here; ``None`` restores the real runner."""
    global _runner
    _runner = runner or _run_real


class LineStream:
    """A long-running command's stdout, line by line (``tegrastats --interval 200``).

    ``close()`` ends the command, which also unblocks a reader waiting in ``lines()``."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self._proc: subprocess.Popen[str] | None = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
        )

    def lines(self) -> Iterator[str]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        yield from proc.stdout

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


StreamOpener = Callable[[Sequence[str]], "LineStream | None"]


def _open_real(argv: Sequence[str]) -> LineStream | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        return LineStream(argv)
    except OSError:
        return None


_opener: StreamOpener = _open_real


def stream_command(argv: Sequence[str]) -> LineStream | None:
    """A streaming device command, or None when it is absent or cannot start."""
    return _opener(argv)


def set_stream_opener(opener: StreamOpener | None) -> None:
    """Tests install a fake that yields recorded lines; ``None`` restores the real one."""
    global _opener
    _opener = opener or _open_real

