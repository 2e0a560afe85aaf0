"""``fleet deploy``: a wheel of this checkout into a venv on each board, over SFTP.

Idempotent: the venv keeps a marker with the hash of the wheel's contents (not of the zip, whose
timestamps change with every build) and the extras; a board that has both is left alone. Offline:
with ``offline`` pip never asks an index, and wheels from a controller-side wheelhouse (``pip download``
for the board's platform, done once where there is a network) are copied to the board and used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.fleet.ssh import Board, BoardError
from results.schema import utc_now_iso

MARKER = "edgebench-deploy.json"
# Left out of the copy the wheel is built from: version control, environments, outputs, caches.
_NOT_IN_WHEEL = (".git", ".venv", "venv", "out", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                 ".ruff_cache", ".benchmarks", "shared", "tests")


@dataclass(frozen=True)
class Wheel:
    path: Path
    source_sha256: str
    commit: str | None


def checkout_root() -> Path:
    import harness

    root = Path(harness.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise UsageError(f"fleet deploy builds a wheel of a checkout, but edgebench runs from {root} (an installed "
                         "copy); run it from a clone of the repository")
    return root


def build_wheel(dest: Path) -> Wheel:
    """``pip wheel`` of this checkout (no dependencies: those come from the board's index or wheelhouse)."""
    root = checkout_root()
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and nothing generated
    # goes into the source folders.
    source = dest / "source"
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(*_NOT_IN_WHEEL))
    # The build backend already here is used when it is new enough (offline); else pip fetches one from its
    # configured index into an isolated build environment.
    isolation = ["--no-build-isolation"] if _local_backend_ok() else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation,
                           "--disable-pip-version-check", "-w", str(dest), str(source)],
                          capture_output=True, text=True)
    wheels = sorted(dest.glob("edgebench-*.whl"))
    if done.returncode != 0 or not wheels:
        raise UsageError(f"building a wheel of {root} failed: {done.stderr.strip()[-800:]}")
    return Wheel(wheels[-1], _contents_hash(wheels[-1]), _commit(root))


def _local_backend_ok() -> bool:
    """setuptools >= 77 (SPDX license strings in pyproject.toml) and wheel installed in this Python."""
    from importlib import metadata

    try:
        major = int(metadata.version("setuptools").split(".")[0])
        metadata.version("wheel")
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


def _contents_hash(wheel: Path) -> str:
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            if name.endswith(".dist-info/RECORD"):
                continue
            h.update(name.encode() + b"\0" + z.read(name))
    return h.hexdigest()


def _commit(root: Path) -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


async def deploy(board: Board, wheel: Wheel, wheelhouse: Path | None = None, offline: bool = False,
                 log=print) -> str:
    """Install ``wheel`` in the board's venv; returns 'installed' or 'up to date'."""
    d = board.device
    if d.edgebench:
        raise BoardError(f"{d.name}: the inventory names an installed edgebench ({d.edgebench}); deploy manages "
                         f"only its own venv ({d.venv}): remove 'edgebench:' to use it")
    marker_path = f"{d.venv}/{MARKER}"
    marker = _read_marker(await board.read_text(marker_path))
    wanted = {"source_sha256": wheel.source_sha256, "extras": list(d.extras)}
    if marker and {k: marker.get(k) for k in wanted} == wanted and await board.exists(f"{d.venv}/bin/edgebench"):
        return "up to date"
    wheels_dir = f"{d.workdir}/wheels"
    await _copy_wheels(board, [wheel.path, *sorted(wheelhouse.glob("*.whl") if wheelhouse else [])], wheels_dir)
    if not await board.exists(f"{d.venv}/bin/python"):
        log(f"[{d.name}] creating {d.venv} with {d.python}")
        argv = [d.python, "-m", "venv", *(["--system-site-packages"] if d.system_site_packages else []), d.venv]
        await _must(board, argv, "creating the venv (Debian/Ubuntu boards need python3-venv: apt install "
                    "python3-venv)")
    if d.site_dirs:
        purelib = (await _must(board, [f"{d.venv}/bin/python", "-c",
                                       "import sysconfig; print(sysconfig.get_paths()['purelib'])"], "")).strip()
        await board.write_text(f"{purelib}/edgebench-site-dirs.pth", "\n".join(d.site_dirs) + "\n")
    pip = [f"{d.venv}/bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--find-links", wheels_dir, *(["--no-index"] if offline else [])]
    log(f"[{d.name}] installing {wheel.path.name} ({wheel.commit or 'no commit'}) extras [{','.join(d.extras)}]")
    await _must(board, [*pip, "--force-reinstall", "--no-deps", f"{wheels_dir}/{wheel.path.name}"],
                "installing the wheel")
    spec = f"edgebench[{','.join(d.extras)}]" if d.extras else "edgebench"
    await _must(board, [*pip, spec], "installing its dependencies" + (
        " offline: put wheels for the board's platform in --wheelhouse DIR (pip download --platform …)"
        if offline else ""))
    await _must(board, [f"{d.venv}/bin/edgebench", "--version"], "starting the installed edgebench")
    await board.write_text(marker_path, json.dumps({**wanted, "commit": wheel.commit, "wheel": wheel.path.name,
                                                    "deployed_at": utc_now_iso()}, indent=1))
    return "installed"


def _read_marker(text: str | None) -> dict | None:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


async def _copy_wheels(board: Board, wheels: list[Path], wheels_dir: str) -> None:
    for w in wheels:  # the wheelhouse is copied once; edgebench's own wheel every time it changed
        remote = f"{wheels_dir}/{w.name}"
        if w.name.startswith("edgebench-") or not await board.exists(remote):
            await board.write_bytes(remote, w.read_bytes())


async def _must(board: Board, argv: list[str], what: str) -> str:
    done = await board.run(argv)
    if done.exit_status != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-6:]) or done.stdout.strip()[-400:]
        raise BoardError(f"{board.device.name}: {' '.join(argv[:3])} failed (exit {done.exit_status}) while "
                         f"{what or 'deploying'}:\n{tail}")
    return done.stdout
