"""Every module imports, and `edgebench --help` / `edgebench backends` work, with no runtime installed.

The "bare environment" is made by a meta-path blocker that makes every runtime package unimportable
in a fresh interpreter (cheaper than a second virtualenv, and stricter: even a transitive import fails)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ["onnxruntime", "openvino", "nncf", "ai_edge_litert", "tflite_runtime", "tensorflow", "onnx2tf",
            "tensorrt", "pycuda", "cuda", "pynvml", "torch", "av", "cv2"]

BLOCKER = f"""
import sys, importlib.abc
BLOCKED = {RUNTIMES!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked: bare environment")
sys.meta_path.insert(0, Block())
"""


def _modules() -> list[str]:
    names = []
    for package in ("backends", "devices", "results", "reports", "harness"):
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            names.append(info.name)
    return names


def _run_bare(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def test_every_module_imports_without_runtimes():
    modules = [m for m in _modules() if not m.endswith("__main__")]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    done = _run_bare(code)
    assert done.returncode == 0, done.stderr[-3000:]


def test_cli_help_and_backends_without_runtimes():
    done = _run_bare("import sys; from harness.cli import main; sys.argv=['edgebench','--help']; main()")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run" in done.stdout and "backends" in done.stdout
    done = _run_bare("import sys; from harness.cli import main; sys.exit(main(['backends', '--json']))")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["onnxruntime"]["available"] is False
    assert "not installed" in rows["onnxruntime"]["reason"]
    assert rows["null"]["available"] is True
