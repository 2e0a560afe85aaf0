"""Do the reported intervals hold on the next run? (a benchmark, not a test)

Runs one configuration N times as separate ``edgebench run`` invocations (separate processes, as a
user re-running it would) and reports, over every ordered pair (earlier i, later j), how often run
j's median falls inside run i's reported interval:

- the within-window 95% CI of the median of all samples (``latency_ms.median_ci95`` against the later
  run's ``pooled_p50``: the old figure), and
- the between-round 95% interval (``latency_ms.p50_ci95``, from rounds), when the runs have rounds.

The goal for the between-round interval is ≥ 90% on a 2-core VM. Run it on a quiet machine
(``edgebench doctor`` first); it prints one line per invocation, then the two coverage figures.

Usage: python benchmarks/validity.py [--zoo talking-head | --model PATH] [--backend onnxruntime]
       [--precision fp32] [--threads 1] [-n 8] [--rounds 5] [--min-duration 2] [--json]
Tiny check: python benchmarks/validity.py -n 2 --rounds 3 --min-duration 0.1 --min-iterations 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _suite(args: argparse.Namespace) -> dict[str, Any]:
    model: dict[str, Any] = {"zoo": args.zoo} if not args.model else {"path": str(Path(args.model).resolve())}
    runner = {"warmup": args.warmup, "min_iterations": args.min_iterations, "min_duration_s": args.min_duration,
              "max_duration_s": max(args.max_duration, args.min_duration), "threads": args.threads}
    if args.rounds is not None:
        runner["rounds"] = args.rounds
    return {"name": "validity", "models": [model], "backends": [args.backend], "precisions": [args.precision],
            "runner": runner, "data": {"evaluation": 0}}


def one_invocation(suite_file: Path, out: Path) -> dict[str, Any]:
    """One ``edgebench run`` in its own process; its record's latency group (or the failure)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite_file), "--json", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    try:
        (record,) = json.loads(done.stdout)
    except (ValueError, TypeError):
        return {"error": f"edgebench exited {done.returncode}: {done.stderr.strip()[-500:]}"}
    if record["status"] != "ok":
        return {"error": f"{record['status']}: {record.get('reason')}"}
    return record["latency_ms"]


def coverage(runs: list[dict[str, Any]], interval_key: str, value_key: str = "p50") -> tuple[int, int]:
    """(hits, pairs): later runs whose ``value_key`` falls in an earlier run's ``interval_key`` interval."""
    hits = pairs = 0
    for i, earlier in enumerate(runs):
        ci = earlier.get(interval_key)
        if not ci:
            continue
        for later in runs[i + 1:]:
            pairs += 1
            value = later.get(value_key, later["p50"])
            hits += int(ci[0] <= value <= ci[1])
    return hits, pairs


def with_next_run_interval(lat: dict[str, Any]) -> dict[str, Any]:
    """Add ``next_run_95``: where the NEXT run's median should fall, from this run's round medians.

    Even a perfectly calibrated 95% CI holds a later run's estimate only ~83% of the time (both estimates
    vary: the difference has sqrt(2) times the spread). The prediction interval for a later run of as
    many rounds widens the t half-width by sqrt(2), so it is the one whose coverage the goal speaks of."""
    import math

    import numpy as np
    from scipy import stats

    medians = lat.get("round_p50") or []
    n = len(medians)
    if n < 3:
        return lat
    m, sd = float(np.mean(medians)), float(np.std(medians, ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd * math.sqrt(2.0 / n)
    return {**lat, "next_run_95": [m - half, m + half]}


def _pct(hits: int, pairs: int) -> str:
    return f"{100.0 * hits / pairs:.0f}% ({hits}/{pairs} pairs)" if pairs else "n/a (no intervals)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default="talking-head", help="zoo model (default talking-head)")
    parser.add_argument("--model", help="a model file instead of a zoo model")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-n", "--invocations", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=None, help="rounds per run (default: the runner's)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-iterations", type=int, default=64)
    parser.add_argument("--min-duration", type=float, default=2.0)
    parser.add_argument("--max-duration", type=float, default=60.0)
    parser.add_argument("--out", help="output folder (default: a temporary one; the artifact cache lives there)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.invocations < 2:
        parser.error("-n must be at least 2: coverage compares a later run with an earlier one")
    with tempfile.TemporaryDirectory(prefix="edgebench-validity-") as tmp:
        out = Path(args.out or tmp)
        suite_file = Path(tmp) / "validity.yaml"
        suite_file.write_text(json.dumps(_suite(args)))  # JSON is YAML
        runs = []
        for k in range(args.invocations):
            lat = one_invocation(suite_file, out)
            if "error" in lat:
                print(f"invocation {k + 1} failed: {lat['error']}", file=sys.stderr)
                return 1
            runs.append(with_next_run_interval(lat))
            if not args.json:
                print(f"run {k + 1}: p50 {lat['p50']:.4g} ms, within-window CI {lat.get('median_ci95')}, "
                      f"between-round {lat.get('p50_ci95')} over {lat.get('rounds', 1)} round(s)", flush=True)
    # The old figure as it was: the median of all samples against the within-window CI of that median.
    old, new = coverage(runs, "median_ci95", "pooled_p50"), coverage(runs, "p50_ci95")
    nxt = coverage(runs, "next_run_95")
    if args.json:
        print(json.dumps({"runs": runs, "within_window": {"hits": old[0], "pairs": old[1]},
                          "between_round": {"hits": new[0], "pairs": new[1]},
                          "next_run_prediction": {"hits": nxt[0], "pairs": nxt[1]}}, indent=2))
    else:
        print(f"later median inside an earlier run's within-window CI (old): {_pct(*old)}")
        print(f"later median inside an earlier run's between-round interval (new): {_pct(*new)}")
        print(f"later median inside an earlier run's next-run prediction interval (sqrt(2) wider): {_pct(*nxt)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
