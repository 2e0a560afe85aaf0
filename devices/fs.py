"""Every file read about the device and every external command goes through here, so tests can
point ``EDGEBENCH_FS_ROOT`` at a fake tree standing in for ``/`` and replace the command runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path


def root() -> Path:
    return Path(os.environ.get("EDGEBENCH_FS_ROOT") or "/")


def path(p: str | os.PathLike[str]) -> Path:
    """Map an absolute device path (``/sys/...``) into the current root."""
    return root() / str(p).lstrip("/")


def read_text(p: str | os.PathLike[str]) -> str | None:
    """File content, or None when absent or unreadable (sysfs reads fail when a sensor is off)."""
    try:
        return path(p).read_text(errors="replace")
    except OSError:
        return None


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
