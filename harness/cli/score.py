"""``edgebench score mos|lse|dnsmos``: quality scores from listening tests and evaluators,
optionally stored on existing runs (``--attach RUN_ID`` or ``--suite NAME``) so reports show them
without re-running the benchmark. Storing re-evaluates the runs' quality gates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.cli.common import add_json, add_out, print_json, store_path
from harness.errors import GateFailed, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score quality (MOS, LSE-D/LSE-C, DNSMOS) and attach it to runs",
        description="Score quality from listening tests (MOS-LQS), lip sync (LSE-D/LSE-C via SyncNet) or a speech "
        "quality predictor (DNSMOS P.835, MOS-LQO), and optionally store the scores on existing runs.",
    )
    sub = parser.add_subparsers(dest="score_kind", metavar="KIND")

    mos = sub.add_parser("mos", help="MOS per condition from a ratings CSV (rater, stimulus, condition, score)")
    mos.add_argument("ratings", help="CSV with columns rater, stimulus, condition, score")
    mos.add_argument("--scale", choices=("acr", "dcr", "ccr"), default="acr",
                     help="rating scale: acr 1-5 (default), dcr 1-5, ccr -3..+3")
    mos.add_argument("--reference", default=None,
                     help="condition the paired ΔMOS is taken against (default fp32; none for ccr)")
    mos.add_argument("--no-delta", action="store_true", help="report MOS per condition only, no ΔMOS")
    mos.add_argument("--per-listener", action="store_true",
                     help="average each listener's votes first; CI over listeners")
    _add_attach(mos, needs_condition=False)
    mos.set_defaults(func=_score_mos)

    lse = sub.add_parser("lse", help="LSE-D / LSE-C lip sync through a SyncNet ONNX model")
    lse.add_argument("--video", action="append", default=[], metavar="V", help="25 fps face-crop video (repeat)")
    lse.add_argument("--audio", action="append", default=[], metavar="A", help="16 kHz mono 16-bit wav (repeat)")
    lse.add_argument("--syncnet", metavar="M.onnx", help="SyncNet converted to ONNX by you (nothing is downloaded)")
    lse.add_argument("--syncnet-outputs", metavar="AUDIO,VIDEO", help="names of the audio and lip embedding outputs")
    lse.add_argument("--embeddings", action="append", default=[], metavar="E.npz",
                     help="per-window embeddings instead of media: arrays 'video' and 'audio' (windows × dim)")
    lse.add_argument("--vshift", type=int, default=15, help="offsets searched, ± frames (default 15)")
    lse.add_argument("--resample-fps", action="store_true",
                     help="resample video not at 25 fps (nearest frame, with a warning) instead of refusing it")
    lse.add_argument("--max-av-mismatch-s", type=float, default=0.1,
                     help="largest audio/video length difference trimmed instead of refused (default 0.1 s)")
    _add_attach(lse, needs_condition=True)
    lse.set_defaults(func=_score_lse)

    dns = sub.add_parser("dnsmos", help="predicted speech quality (DNSMOS P.835, labelled MOS-LQO)")
    dns.add_argument("wavs", nargs="+", metavar="WAV", help="mono wav files")
    dns.add_argument("--model", metavar="sig_bak_ovr.onnx",
                     help="DNSMOS P.835 model file (default: the one the installed speechmos package ships, with "
                     "its P.808 model_v8.onnx)")
    dns.add_argument("--p808", metavar="model_v8.onnx", help="DNSMOS P.808 model file to add the P.808 score")
    _add_attach(dns, needs_condition=True)
    dns.set_defaults(func=_score_dnsmos)

    parser.set_defaults(func=lambda args: _need_kind(parser))


def _need_kind(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    raise UsageError("say what to score: edgebench score mos|lse|dnsmos …")


def _add_attach(p: argparse.ArgumentParser, needs_condition: bool) -> None:
    add_out(p)
    add_json(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--attach", action="append", default=[], metavar="RUN_ID",
                   help="store the scores on this run (id or unique prefix; repeat for several)")
    g.add_argument("--suite", metavar="NAME", help="store the scores on the matching runs of this suite")
    p.add_argument("--condition", metavar="C",
                   help="runs of --suite to store on: C = precision or backend/precision"
                   + (" (required with --suite)" if needs_condition else " (default: every condition in the CSV)"))
    p.add_argument("--device", help="with --suite: only runs on this device")
    p.add_argument("--model-name", metavar="NAME", help="with --suite: only runs of this model")
    p.add_argument("--fail-on-gate", action="store_true", help="exit 3 when a re-evaluated gate fails")


# -- storing --------------------------------------------------------------------------------

def _open_store(args: argparse.Namespace) -> Any:
    from results.store import ResultStore

    path = store_path(args, create=False)
    if not path.exists():
        raise UsageError(f"no result store at {path}: run 'edgebench run' first, or pass --out DIR")
    return ResultStore(path)


def _store_errors() -> tuple[type[BaseException], ...]:
    try:
        from results.store import StoreError

        return (StoreError,)
    except ImportError:  # pragma: no cover
        return ()


def _targets(args: argparse.Namespace, store: Any, conditions: list[str] | None) -> dict[str, str | None]:
    """run_id -> condition it receives (None: the single set of scores given)."""
    from harness.quality.attach import condition_for, select_runs

    if args.attach:
        out: dict[str, str | None] = {}
        for ref in args.attach:
            run_id = store.resolve(ref)
            cond = args.condition
            if conditions is not None and cond is None:
                cond = condition_for(store.get(run_id), conditions)
                if cond is None:
                    raise UsageError(
                        f"run {run_id} matches no condition of the ratings ({', '.join(conditions)}); "
                        "pass --condition C to choose which condition's scores it gets"
                    )
            out[run_id] = cond
        return out
    runs = select_runs(store, args.suite, args.device, args.model_name)
    if conditions is None:
        if not args.condition:
            raise UsageError("--suite needs --condition C (precision or backend/precision) to pick the runs scored")
        chosen = {r.run_id: None for r in runs if condition_for(r, [args.condition]) == args.condition}
        if not chosen:
            raise UsageError(f"no run of suite {args.suite!r} matches condition {args.condition!r}")
        return chosen
    wanted = [args.condition] if args.condition else conditions
    return {r.run_id: c for r in runs if (c := condition_for(r, wanted)) is not None}


def _store_each(args: argparse.Namespace, values_for: Any, conditions: list[str] | None = None,
                after: Any = None) -> dict[str, Any]:
    """Attach ``values_for(condition)`` to each target run; returns what was stored and the gates."""
    from harness.quality.attach import attach_quality

    errors = _store_errors()
    try:
        store = _open_store(args)
        try:
            targets = _targets(args, store, conditions)
            stored: dict[str, Any] = {}
            for run_id, cond in targets.items():
                gates = attach_quality(store, run_id, values_for(cond))
                stored[run_id] = {"condition": cond, "gates": gates}
            if after is not None:
                for run_id, gates in after(store, list(targets)).items():
                    stored.setdefault(run_id, {"condition": None})["gates"] = gates
        finally:
            store.close()
    except errors as exc:
        raise UsageError(str(exc)) from exc
    result: dict[str, Any] = {"runs": stored}
    if conditions is not None:
        matched = {v["condition"] for v in stored.values()}
        unmatched = [c for c in conditions if c not in matched]
        if unmatched:
            result["unmatched_conditions"] = unmatched
    return result


def _finish(args: argparse.Namespace, payload: dict[str, Any], text: list[str]) -> int:
    from harness.quality.gates import failed

    stored = payload.get("stored", {}).get("runs", {})
    if args.json:
        print_json(payload)
    else:
        print("\n".join(text))
        for run_id, info in stored.items():
            cond = f" ({info['condition']})" if info.get("condition") else ""
            print(f"stored on {run_id}{cond}")
            for name, g in (info.get("gates") or {}).items():
                verdict = {True: "pass", False: "FAIL", None: "undecided"}[g["passed"]]
                why = f", {g['reason']}" if g.get("reason") else ""
                print(f"  gate {name} {g['spec']}: {verdict} (value {g['value']}{why})")
        for c in payload.get("stored", {}).get("unmatched_conditions", []):
            print(f"note: condition {c!r} matched no run (rule: backend/precision, else precision)")
    failures = {rid: failed(info.get("gates") or {}) for rid, info in stored.items()}
    failures = {k: v for k, v in failures.items() if v}
    if failures and args.fail_on_gate:
        raise GateFailed("quality gate(s) failed: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in failures.items()))
    return 0


def _wants_store(args: argparse.Namespace) -> bool:
    return bool(args.attach or args.suite)


# -- mos ----------------------------------------------------------------------------------------

def _fmt(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _score_mos(args: argparse.Namespace) -> int:
    from harness.quality.mos import analyze_file, condition_figures

    reference = None if args.no_delta else (args.reference or (None if args.scale == "ccr" else "fp32"))
    summary = analyze_file(args.ratings, args.scale, reference, args.per_listener)
    payload: dict[str, Any] = {"mos": summary}
    if _wants_store(args):
        conditions = list(summary["conditions"])
        if args.condition and args.condition not in conditions:
            raise UsageError(f"--condition {args.condition!r} is not in the ratings ({', '.join(conditions)})")
        payload["stored"] = _store_each(args, lambda c: condition_figures(summary, c), conditions)
    scale = summary["scale"]
    lines = [f"{summary['quantity']} ({summary['label']}, {summary['method']} {scale['min']}..{scale['max']}), "
             f"{summary['n_votes']} votes from {summary['n_listeners']} listeners; CI: 95 % Student t over "
             f"{'listener means' if summary['per_listener_means'] else 'votes'}"]
    delta_head = f"Δ vs {reference}"
    lines.append(f"{'condition':<24} {'mos':>6} {'±ci95':>7} {'votes':>6} {'listeners':>9} "
                 f"{delta_head:>14} {'±ci95':>7}")
    for c, s in summary["conditions"].items():
        d = summary["deltas"].get(c, {})
        lines.append(f"{c:<24} {_fmt(s['mos']):>6} {_fmt(s['ci95']):>7} {s['n_votes']:>6} {s['n_listeners']:>9} "
                     f"{_fmt(d.get('delta')) if d else '':>14} {_fmt(d.get('ci95')) if d else '':>7}")
    return _finish(args, payload, lines)


# -- lse ----------------------------------------------------------------------------------------

def _load_embeddings(path: str) -> tuple[Any, Any]:
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"embeddings file {p} not found")
    with np.load(p) as data:
        keys = set(data.files)
        for v_key, a_key in (("video", "audio"), ("video_emb", "audio_emb")):
            if {v_key, a_key} <= keys:
                return data[v_key], data[a_key]
    raise UsageError(f"{p}: expected arrays 'video' and 'audio' (windows × dim), found {sorted(keys)}")


def _score_lse(args: argparse.Namespace) -> int:
    from harness.quality import lse

    clips: dict[str, dict[str, Any]] = {}
    if args.embeddings:
        if args.video or args.audio:
            raise UsageError("give either --embeddings or --video/--audio, not both")
        for path in args.embeddings:
            d = lse.lse_details(*_load_embeddings(path), vshift=args.vshift)
            d.pop("mdist")
            clips[Path(path).name] = d
    else:
        if not args.video or len(args.video) != len(args.audio):
            raise UsageError(
                f"give one --audio per --video (found {len(args.video)} video, {len(args.audio)} audio), "
                "or --embeddings E.npz"
            )
        if not args.syncnet:
            raise UsageError("--syncnet M.onnx is required to score media: SyncNet converted to ONNX by you")
        output_names = None
        if args.syncnet_outputs:
            parts = [s.strip() for s in args.syncnet_outputs.split(",")]
            if len(parts) != 2:
                raise UsageError(f"--syncnet-outputs takes AUDIO,VIDEO output names, found {args.syncnet_outputs!r}")
            output_names = {"audio": parts[0], "video": parts[1]}
        model = lse.SyncNet.from_onnx(args.syncnet, output_names=output_names)
        try:
            for video, audio in zip(args.video, args.audio):
                d = lse.score_files(video, audio, model, resample=args.resample_fps, vshift=args.vshift,
                                    max_av_mismatch_s=args.max_av_mismatch_s)
                d.pop("mdist")
                name = Path(video).name
                if name in clips:
                    raise UsageError(f"two clips named {name}: clip ids are file names and must be unique")
                clips[name] = d
        finally:
            model.close()
    summary = lse.dataset_score(list(clips.values()))
    payload: dict[str, Any] = {"lse": {**summary, "vshift": args.vshift, "clips": clips}}
    if _wants_store(args):
        values = {**summary, "lse_clips": {k: {"lse_d": v["lse_d"], "lse_c": v["lse_c"],
                                               "offset_frames": v["offset_frames"]} for k, v in clips.items()}}
        from harness.quality.attach import refresh_lse_deltas

        def after(store: Any, run_ids: list[str]) -> dict[str, Any]:
            gates: dict[str, Any] = {}
            for rid in run_ids:
                gates.update(refresh_lse_deltas(store, rid))
            return gates

        payload["stored"] = _store_each(args, lambda c: values, None, after)
    lines = [f"{'clip':<32} {'LSE-D':>7} {'LSE-C':>7} {'offset':>6} {'windows':>7}"]
    for name, d in clips.items():
        lines.append(f"{name:<32} {d['lse_d']:>7.3f} {d['lse_c']:>7.3f} {d['offset_frames']:>6} {d['n_windows']:>7}")
    mean_head = f"mean of {summary['lse_n_clips']} clip(s)"
    lines.append(f"{mean_head:<32} {summary['lse_d']:>7.3f} {summary['lse_c']:>7.3f}")
    return _finish(args, payload, lines)


# -- dnsmos -------------------------------------------------------------------------------------

def _score_dnsmos(args: argparse.Namespace) -> int:
    from harness.quality.dnsmos import DnsMos, dataset_score

    model = DnsMos(args.model, p808_path=args.p808)
    try:
        clips = [model.score_file(w) for w in args.wavs]
    finally:
        model.close()
    summary = dataset_score(clips)
    payload: dict[str, Any] = {"dnsmos": {**summary, "clips": clips}}
    if _wants_store(args):
        payload["stored"] = _store_each(args, lambda c: summary, None)
    lines = [f"{'file':<40} {'SIG':>6} {'BAK':>6} {'OVRL':>6} {'P.808':>6} {'segments':>8}   "
             f"({clips[0]['model']}, MOS-LQO: predicted)"]
    for c in clips:
        p808 = f"{c['mos_lqo_p808']:>6.2f}" if "mos_lqo_p808" in c else f"{'n/a':>6}"
        lines.append(f"{Path(c['file']).name:<40} {c['mos_lqo_sig']:>6.2f} {c['mos_lqo_bak']:>6.2f} "
                     f"{c['mos_lqo_ovrl']:>6.2f} {p808} {c['n_segments']:>8}")
    lines.append(f"{'mean of ' + str(summary['mos_lqo_n_clips']) + ' clip(s)':<40} {summary['mos_lqo_sig']:>6.2f} "
                 f"{summary['mos_lqo_bak']:>6.2f} {summary['mos_lqo_ovrl']:>6.2f}")
    return _finish(args, payload, lines)
