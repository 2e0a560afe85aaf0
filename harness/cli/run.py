"""``edgebench run``: a suite file, or one model given on the command line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from harness.cli.common import add_json, add_out, out_dir, print_json, store_path
from harness.errors import GateFailed, UsageError

DEFAULT_BACKEND_FOR_FORMAT = {".onnx": "onnxruntime", ".tflite": "litert", ".xml": "openvino"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="benchmark a suite or a model",
                       description="Run a suite (YAML) or one model through backends and precisions; "
                       "every run is stored in the output folder.")
    p.add_argument("suite", nargs="?", metavar="SUITE", help="suite YAML file (e.g. suites/quick.yaml)")
    p.add_argument("--model", metavar="PATH", help="a model file (.onnx, .tflite, OpenVINO .xml) instead of a suite")
    p.add_argument("--backend", action="append", metavar="NAME", help="backend to use (repeatable)")
    p.add_argument("--precision", action="append", metavar="NAME",
                   help="fp32, fp16, bf16, int8, int8-dynamic, int8-mixed, int8-auto (repeatable); each run records "
                   "executed_precision, what the runtime actually computed in")
    p.add_argument("--device", metavar="NAME", default=None, help="device profile (default: host)")
    p.add_argument("--calib", metavar="DIR", help="calibration samples: a folder of .npy/.npz files")
    p.add_argument("--shape", action="append", metavar="INPUT=1x3x224x224", default=[],
                   help="fix an input's dynamic dims (repeatable)")
    p.add_argument("--input", action="append", metavar="NAME=VALUE", default=[], dest="inputs",
                   help="fix an input for timing, evaluation and calibration: a number, true/false, or a .npy "
                   "file (repeatable), e.g. --input sr=16000")
    p.add_argument("--rounds", type=int, metavar="N",
                   help="timed rounds per run (default 5; each a re-warm and a full window, interleaved across "
                   "the precisions of a model and backend)")
    p.add_argument("--warmup", type=int, metavar="N")
    p.add_argument("--min-iterations", type=int, metavar="N")
    p.add_argument("--min-duration", type=float, metavar="S")
    p.add_argument("--max-duration", type=float, metavar="S")
    p.add_argument("--threads", type=int, metavar="N", help="inference threads passed to every backend")
    p.add_argument("--timeout", type=float, metavar="S", help="per-run limit (prepare + load + measure)")
    p.add_argument("--fresh-inputs", action="store_true", default=None,
                   help="cycle through distinct inputs instead of repeating one")
    p.add_argument("--evaluation", type=int, metavar="N", help="evaluation samples for quality (0: skip scoring)")
    p.add_argument("--fail-on-gate", action="store_true", help="exit non-zero (3) when a quality gate fails")
    p.add_argument("--report", metavar="FILE", help="also write an HTML report (or .md) of this invocation's runs")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS",
                   help="allow an out-of-tree backend for this run (repeatable); the suite then names it as "
                   "MODULE:CLASS. Installed plugins (entry-point group edgebench.backends) need no flag")
    p.add_argument("--profile", action="store_true",
                   help="after the timed rounds, a separate pass with each runtime's own per-operator profiler "
                   "(its overhead is recorded); see 'edgebench profile-diff'")
    p.add_argument("--profile-iterations", type=int, metavar="N",
                   help="inferences in the profile pass (default 20; implies --profile)")
    add_out(p)
    add_json(p)
    p.set_defaults(func=run_command)


def _parse_shapes(items: list[str]) -> dict[str, list[int]]:
    shapes = {}
    for item in items:
        name, _, dims = item.partition("=")
        try:
            shapes[name] = [int(d) for d in dims.lower().split("x")]
        except ValueError:
            raise UsageError(f"--shape {item!r}: expected INPUT=1x3x224x224 (positive integers joined by x)") from None
        if not name or not shapes[name] or min(shapes[name]) <= 0 or max(shapes[name]) > 2**31 - 1 \
                or len(shapes[name]) > 8:
            raise UsageError(f"--shape {item!r}: expected INPUT=1x3x224x224 (positive integers joined by x)")
    return shapes


def _allow_plugins(specs: list[str]) -> None:
    from backends import allow_plugin
    from backends.base import BackendError

    for spec in specs:
        try:
            allow_plugin(spec)
        except BackendError as exc:
            raise UsageError(f"--plugin {spec!r}: {exc}") from exc


def _suite_from_args(args: argparse.Namespace):
    from harness.suite import load_suite, parse_suite

    _allow_plugins(getattr(args, "plugin", None) or [])
    if args.suite and args.model:
        raise UsageError("give a suite file or --model, not both")
    if args.suite:
        size = Path(args.suite).stat().st_size if Path(args.suite).is_file() else 0
        if size > 1024 * 1024:
            print(f"edgebench: reading and checking the suite {args.suite} ({size / 2**20:.1f} MiB)…",
                  file=sys.stderr, flush=True)
        suite = load_suite(args.suite)
        if args.backend or args.precision:
            suite = _restrict(suite, args.backend, args.precision)
        return suite
    if not args.model:
        raise UsageError("nothing to run: give a suite file (e.g. suites/quick.yaml) or --model PATH")
    model = Path(args.model)
    if not model.is_file():
        raise UsageError(f"model file {model} does not exist; check the path")
    backend = args.backend or [DEFAULT_BACKEND_FOR_FORMAT.get(model.suffix.lower(), "onnxruntime")]
    raw: dict[str, Any] = {
        "name": f"adhoc-{model.stem}",
        "models": [{"path": str(model.resolve()), "inputs": _parse_shapes(args.shape)}],
        "backends": backend,
        "precisions": args.precision or ["fp32"],
    }
    if args.calib:
        raw["data"] = {"calibration_dir": args.calib}
    return parse_suite(raw, source="the command line (--model, --backend, --precision, --shape)")


def _restrict(suite, backends: list[str] | None, precisions: list[str] | None):
    import dataclasses

    chosen_b = [b for b in suite.backends if not backends or b.name in backends]
    chosen_p = [p for p in suite.precisions if not precisions or p.name in precisions]
    all_b = suite.backends + [b for pipe in suite.pipelines for b in pipe.backends or []]
    all_p = suite.precisions + [p for pipe in suite.pipelines for p in pipe.precisions or []]
    missing = sorted(set(backends or []) - {b.name for b in all_b}) + sorted(
        set(precisions or []) - {p.name for p in all_p})
    if missing or not ((chosen_b and chosen_p) or suite.pipelines):
        raise UsageError(f"{suite.path}: --backend/--precision {missing} not in the suite (it has backends "
                         f"{sorted({b.name for b in all_b})} and precisions {sorted({p.name for p in all_p})})")
    pipelines = []
    for pipe in suite.pipelines:  # a pipeline's own backends/precisions are narrowed the same way
        pb = [b for b in pipe.backends or chosen_b if not backends or b.name in backends]
        pp = [p for p in pipe.precisions or chosen_p if not precisions or p.name in precisions]
        if pb and pp:
            pipelines.append(dataclasses.replace(pipe, backends=pb, precisions=pp))
    models = suite.models if chosen_b and chosen_p else []
    if not models and not pipelines:
        raise UsageError(f"{suite.path}: --backend/--precision {backends or []} {precisions or []} leave nothing "
                         "to run in this suite")
    return dataclasses.replace(suite, models=models, backends=chosen_b or suite.backends,
                               precisions=chosen_p or suite.precisions, pipelines=pipelines)


def _with_profile(suite, args: argparse.Namespace):
    """The suite with --profile / --profile-iterations applied."""
    import dataclasses

    if args.profile or args.profile_iterations is not None:
        if args.profile_iterations is not None and args.profile_iterations < 1:
            raise UsageError(f"--profile-iterations must be at least 1, found {args.profile_iterations}")
        iterations = args.profile_iterations or suite.profile.iterations
        suite = dataclasses.replace(suite, profile=dataclasses.replace(suite.profile, enabled=True,
                                                                       iterations=iterations))
    return suite


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "warmup": args.warmup,
        "min_iterations": args.min_iterations,
        "min_duration_s": args.min_duration,
        "max_duration_s": args.max_duration,
        "threads": args.threads,
        "timeout_s": args.timeout,
        "fresh_inputs": args.fresh_inputs,
        "rounds": args.rounds,
    }


def _suite_for_run(args: argparse.Namespace):
    """The suite with the command line's --input, --calib, --evaluation, --profile applied (--rounds checked)."""
    import dataclasses

    from harness.suite import check_gates_scorable

    if args.rounds is not None and args.rounds < 1:
        raise UsageError(f"--rounds must be at least 1 (5 or more for an interval between rounds), found {args.rounds}")
    suite = _with_inputs(_suite_from_args(args), args.inputs)
    if args.calib:
        suite = dataclasses.replace(suite, data=dataclasses.replace(suite.data, calibration_dir=args.calib))
    if args.evaluation is not None:
        if args.evaluation < 0:
            raise UsageError(f"--evaluation must not be negative, found {args.evaluation}")
        suite = dataclasses.replace(suite, data=dataclasses.replace(suite.data, evaluation=args.evaluation))
        check_gates_scorable(suite, "--evaluation 0")
    return _with_profile(suite, args)


def run_command(args: argparse.Namespace) -> int:
    for name, value in _overrides(args).items():
        if value is not None and not isinstance(value, bool) and value < 0:
            raise UsageError(f"--{name.replace('_s', '').replace('_', '-')} must not be negative, found {value}")
    suite = _suite_for_run(args)
    # The runner (scipy, via results.stats) and the devices load only once the suite is valid: a typo
    # in it fails at once.
    from devices.environment import capture_environment
    from devices.profiles import DeviceError, resolve
    from devices.telemetry import Telemetry
    from harness import __version__
    from harness.plan import expand, model_source
    from harness.runner import RunContext, Terminated, interrupted_message, raise_on_sigterm
    from results.store import ResultStore

    try:
        profile = resolve(args.device or "host")
    except DeviceError as exc:
        raise UsageError(str(exc)) from exc
    out = out_dir(args)
    plans: list[Any] = expand(suite, profile.name, _overrides(args), profile.runner_defaults,
                              profile.backend_options)
    # Every model file is checked before the first run: a typo should not surface an hour in.
    _preflight(suite, plans, out, model_source)
    plans += pipeline_plans(suite, profile, _overrides(args), out)
    context = RunContext(out_dir=out, environment=capture_environment(__version__),
                         device={"name": profile.name, **profile.facts()}, telemetry=Telemetry.for_profile(profile),
                         device_options=dict(profile.options))
    store = ResultStore(store_path(args))
    records: list = []
    show = sys.stderr.isatty() or not args.json
    previous = raise_on_sigterm()  # `kill` (a CI timeout, systemd) stops like Ctrl-C: finished runs are kept
    try:
        _run_all(plans, context, store, records, show, out)
    except _Unsaved as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        print(f"edgebench: {len(records)} finished run(s) are saved; the suite stops here", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"edgebench: {interrupted_message(len(records))}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()
    _print_runs(records, args, out)
    if args.report:
        _write_report(records, Path(args.report), store_path(args))
    failed_gates = [r for r in records for g in r.gates.values() if g.get("passed") is False]
    undecided = sorted({name for r in records for name, g in r.gates.items() if g.get("passed") is None})
    if args.fail_on_gate and undecided:
        print(f"edgebench: note: gate(s) {', '.join(undecided)} not decided by this run (figures attached later "
              "by 'edgebench score' decide them); --fail-on-gate judged only the decided ones", file=sys.stderr)
    if args.fail_on_gate and failed_gates:
        raise GateFailed(f"{len(failed_gates)} run(s) failed a quality gate")
    return 1 if any(r.status == "failed" for r in records) else 0


def _print_runs(records: list, args: argparse.Namespace, out: Path) -> None:
    """The runs as JSON, or as tables: single models, then pipelines (end-to-end time, RTF, stage shares)."""
    from reports.table import pipeline_table, summary_table

    if args.json:
        print_json([r.to_dict() for r in records])
        return
    singles = [r for r in records if not r.pipeline]
    if singles:
        print(summary_table(singles))
        _print_profile_sentences(singles)
    if len(singles) < len(records):
        print(pipeline_table([r for r in records if r.pipeline]))
    print(f"\n{len(records)} run(s) stored in {store_path(args)}; see them with "
          f"'edgebench list --out {out}' and 'edgebench show RUN_ID --out {out}'")


def _run_all(plans: list, context: Any, store: Any, records: list, show: bool, out: Path) -> None:
    """Run and save each plan (rounds interleaved within a model and backend; pipelines one after
    another); ``records`` holds what finished (also when interrupted)."""
    from harness.pipeline_run import run_pipeline_plan
    from harness.runner import run_plans

    n = len(plans)
    singles = [i for i, p in enumerate(plans) if not hasattr(p, "pipeline")]
    pipelines = [i for i, p in enumerate(plans) if hasattr(p, "pipeline")]

    def on_start(k: int, plan: Any) -> None:
        if show:
            print(f"[{singles[k] + 1}/{n}] {plan.label} …", file=sys.stderr, flush=True)

    def keep(i: int, record: Any) -> None:
        unsaved = _save(store, record, out)
        if unsaved:
            raise _Unsaved(unsaved)
        records.append(record)
        if show:
            print(f"[{i + 1}/{n}] {plans[i].label}: {_one_line(record)}", file=sys.stderr, flush=True)

    for k, record in run_plans([plans[i] for i in singles], context, on_start):
        keep(singles[k], record)
    for i in pipelines:
        if show:
            print(f"[{i + 1}/{n}] {plans[i].label} …", file=sys.stderr, flush=True)
        keep(i, run_pipeline_plan(plans[i], context))


def _with_inputs(suite, items: list[str]):
    """The suite with every --input applied to each of its models (the command line wins)."""
    import dataclasses

    from harness.input_values import parse_cli_input

    if not items:
        return suite
    values = {}
    for item in items:
        v = parse_cli_input(item)
        if v.name in values:
            raise UsageError(f"--input {v.name}=… is given twice; keep one")
        values[v.name] = v
    models = [dataclasses.replace(m, input_values={**m.input_values, **values}) for m in suite.models]
    return dataclasses.replace(suite, models=models)


def _check_inputs(spec, source) -> None:
    """Fixed inputs checked against the model's own inputs before anything runs (ONNX files; other
    formats are checked when the run loads the model)."""
    if not spec.input_values or source.format != "onnx":
        return
    from backends.base import TensorSpec, onnx_io_specs
    from harness.input_values import check_values

    specs = [TensorSpec(s.name, tuple(spec.input_shapes.get(s.name, s.shape)), s.dtype, s.layout)
             for s in onnx_io_specs(source.path)[0]]
    try:
        check_values(spec.input_values, specs)
    except UsageError as exc:
        raise UsageError(f"model {spec.name}: {exc}") from None


def pipeline_plans(suite, profile, overrides: dict[str, Any], out: Path) -> list:
    """The suite's pipeline plans; every stage file is checked (zoo stages exported) before any run."""
    if not suite.pipelines:
        return []
    from harness.pipeline_run import expand_pipelines, stage_source
    from harness.plan import runner_settings

    for pipe in suite.pipelines:
        for stage in pipe.stages:
            for precision in stage.model.variants or ["fp32"]:
                stage_source(stage, precision, out / "cache" / "zoo")
    return expand_pipelines(suite, runner_settings(suite, overrides, profile.runner_defaults), profile.name,
                            profile.backend_options)


class _Unsaved(Exception):
    """A measured record the store could not take; the message says where it went instead."""


def _preflight(suite, plans: list, out: Path, model_source) -> None:
    """Every model file is checked before the first run (a typo should not surface an hour in), each
    distinct file once, saying what it does when that takes a while; inputs that cannot fit in memory
    even at one byte per value are refused here, before anything is measured."""
    from harness.data import check_fits, sample_files

    if suite.data.calibration_dir is not None:
        sample_files(suite.data.calibration_dir)  # a missing or empty folder fails now, not in every run
    sources = {(spec.zoo, spec.path, tuple(sorted(spec.variants.items()))): spec for spec in suite.models}
    loud = len(sources) > 50 or len(suite.models) > 500
    if loud:
        print(f"edgebench: {len(plans)} run(s) planned; checking {len(sources)} distinct model file(s) of "
              f"{len(suite.models)} model entries…", file=sys.stderr, flush=True)
    last = time.monotonic()
    for i, spec in enumerate(sources.values(), 1):
        for precision in spec.variants or ["fp32"]:
            model_source(spec, precision, out / "cache" / "zoo")
        if loud and time.monotonic() - last > 5:
            print(f"edgebench: checked {i}/{len(sources)} model files…", file=sys.stderr, flush=True)
            last = time.monotonic()
    for spec in suite.models:
        if spec.input_values:
            _check_inputs(spec, model_source(spec, "fp32", out / "cache" / "zoo"))
        for name, shape in spec.input_shapes.items():
            count = 1
            for d in shape:
                count *= d
            check_fits(count, f"input {name!r} of {spec.name} ({'x'.join(map(str, shape))}, at least 1 byte per value)")


def _save(store, record, out: Path) -> str | None:
    """Save ``record``; when the store cannot take it (disk full, I/O error) the measured record goes
    to a JSON file next to the store instead of being lost. Returns the message to show, or None."""
    import sqlite3

    from results.store import StoreError

    try:
        store.save(record)
        return None
    except (sqlite3.Error, OSError, StoreError) as exc:
        why = f"{type(exc).__name__}: {exc}"
    fallback = write_fallback(record, store.path.parent)
    if fallback is None:
        import json

        return (f"could not save run {record.run_id} in {store.path} ({why}), nor write it to a file; "
                f"the record follows, save it as FILE.json and run 'edgebench import FILE.json':\n"
                + json.dumps(record.to_dict(), default=str))
    return (f"could not save run {record.run_id} in {store.path} ({why}); the measured record is in "
            f"{fallback}: free some space, then run 'edgebench import {fallback} --out {out}'")


def write_fallback(record, folder: Path) -> Path | None:
    """The record (with its raw samples) as JSON beside the store, else in the temp folder."""
    import json
    import tempfile

    text = json.dumps(record.to_dict(with_samples=True), default=str, indent=1)
    for where in (folder, Path(tempfile.gettempdir())):
        path = where / f"unsaved-run-{record.run_id}.json"
        try:
            path.write_text(text)
            return path
        except OSError:
            path.unlink(missing_ok=True)  # a truncated file must not pass for the record
    return None


def _one_line(record) -> str:
    if record.status != "ok":
        return f"{record.status}: {record.reason}"
    if record.pipeline:
        from reports.table import pipeline_line

        return pipeline_line(record)
    lat = record.latency_ms or {}
    ci = lat.get("p50_ci95")
    interval = f" [{ci[0]:.3g}–{ci[1]:.3g}]" if ci else ""
    return (f"ok, p50 {lat.get('p50', float('nan')):.3g} ms{interval} over {lat.get('rounds', 1)} round(s), "
            f"{lat.get('n')} iterations")


def _print_profile_sentences(records: list) -> None:
    """After ``--profile``: why each profiled reduced precision that is slower than fp32 is slower."""
    if any(r.profile for r in records):
        from reports.profile import slowdown_sentences

        for line in slowdown_sentences(records):
            print(f"profile: {line}")


def _write_report(records: list, path: Path, store_file: Path) -> None:
    from results.store import ResultStore

    with ResultStore(store_file) as store:
        samples = {r.run_id: store.samples(r.run_id) for r in records}
    if path.suffix.lower() == ".md":
        from reports.markdown import render as render_md

        render_md(records, samples, path)
    else:
        from reports.html import render as render_html

        render_html(records, samples, path)
    print(f"report: {path.resolve()}")
