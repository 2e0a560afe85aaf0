"""`edgebench run` on a suite with a typo fails before loading the runner's heavy dependencies
(scipy through results.stats, onnx through the zoo): checked by what is imported, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import json, sys
from harness.cli import main
rc = main(["run", sys.argv[1], "--out", sys.argv[2]])
heavy = [m for m in ("scipy", "onnx", "ml_dtypes", "harness.runner", "harness.zoo._model") if m in sys.modules]
print(json.dumps({"rc": rc, "heavy": heavy}))
"""


@pytest.mark.parametrize("models", ["[{zoo: talking-head}]", "[{path: missing.onnx}]"])
def test_a_misspelt_backend_option_fails_before_heavy_imports(tmp_path, models):
    suite = tmp_path / "bad.yaml"
    suite.write_text(f"name: bad\nmodels: {models}\nbackends: [{{name: onnxruntime, options: {{thredas: 2}}}}]\n")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(suite), str(tmp_path / "out")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "did you mean 'threads'" in proc.stderr and "Traceback" not in proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 2, "heavy": []}
