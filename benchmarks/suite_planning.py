"""How long a very large suite takes to read, validate and plan (a benchmark, not a test).

Writes a suite of N model entries (default 26,885, the size that took minutes before issue 15),
all naming one tiny ONNX file, then times: reading + validating (strict YAML loader and
``parse_suite``), expanding into plans, and the pre-run check of every distinct model file.
Nothing is run or stored. Usage: python benchmarks/suite_planning.py [--models 26885]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cli.run import _preflight
from harness.plan import expand, model_source
from harness.suite import load_suite
from tests.conftest import build_tiny_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=26_885)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_tiny_onnx(folder / "tiny.onnx")
        lines = ["name: big", "models:"] + [f"  - {{path: {model}, name: m{i}}}" for i in range(args.models)]
        suite_file = folder / "big.yaml"
        suite_file.write_text("\n".join([*lines, 'backends: ["null"]']) + "\n")
        t0 = time.perf_counter()
        suite = load_suite(suite_file)
        t1 = time.perf_counter()
        plans = expand(suite)
        t2 = time.perf_counter()
        _preflight(suite, plans, folder / "out", model_source)
        t3 = time.perf_counter()
    size_mib = len("\n".join(lines)) / 2**20
    print(f"{args.models} model entries ({size_mib:.1f} MiB of YAML): read+validate {t1 - t0:.2f} s, "
          f"expand {t2 - t1:.2f} s ({len(plans)} plans), pre-run model check {t3 - t2:.2f} s")


if __name__ == "__main__":
    main()
