"""``int8-auto``: int8 with the modules to keep in float chosen by measured sensitivity.

Modules are node-name prefixes of the ONNX model (``video_encoder/...`` → ``video_encoder``; the
shallowest depth that splits the model in two or more), or the user's own mapping
``modules: {name: [glob, ...]}``. Only modules holding compute nodes (Conv, MatMul, Gemm, ...) count.

The search, per backend (each pass is a real build of that backend's int8/int8-mixed recipe, run
on the evaluation set and scored against the fp32 reference):

1. the whole model in int8;
2. one at a time, *only module M quantized* (the rest in float): the fidelity M costs alone;
3. one at a time, *only module M in float* (the rest int8): the fidelity M wins back
   (the two passes of AIMET's QuantAnalyzer);
4. greedy: keep modules in float, most harmful first (largest gain from pass 3, then largest loss
   from pass 2), re-measuring after each, until the floor is met (NNCF's accuracy control and Intel
   Neural Compressor's "basic" strategy work this way). The first plan meeting the floor has the
   fewest modules in float this order finds, so it is also the fastest;
5. refine (``refine: true``; off by default): each module the plan keeps in float is split one level
   deeper (``upsampler`` → ``upsampler/up0``, ``upsampler/conv_in``, ...); its parts' gains are measured
   (the rest of the plan unchanged), and the same greedy keeps the fewest parts that still meet the floor.
   A module is kept whole when all its parts are needed. Off by default because fewer float layers is
   not faster per se: on foley (AVX-512, 2 threads) the refined plans kept 26.7 dB (ONNX Runtime) and
   29.7 dB (OpenVINO) instead of 55.5 and 41.0 dB at no measurable speed gain; each extra float island
   adds quantize/dequantize boundaries.

A floor no plan meets is said so, with the best plan found. Each pass's time is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError

#: settings int8-auto reads; the rest are the backend's int8 recipe settings, passed to every build
AUTO_KEYS = ("floor", "modules", "module_depth", "budget_s", "sensitivity", "refine")
DEFAULT_FLOOR = "sqnr_db >= 25"
#: bumped when the search's steps change (2: the refine step), so stored results of an older search are not reused
SEARCH_VERSION = 2
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "Attention", "LSTM", "GRU")


@dataclass(frozen=True)
class Floor:
    """The quality an int8 plan must keep: ``metric`` (a top-level fidelity figure) ``op`` ``threshold``."""

    metric: str
    op: str
    threshold: float

    def met(self, scores: Mapping[str, Any]) -> bool | None:
        from harness.quality.gates import Gate

        value = scores.get(self.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or np.isnan(value):
            return None
        return Gate(self.op, self.threshold).check(float(value))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def parse_floor(value: Any, gates: Mapping[str, str] | None = None) -> Floor:
    """A floor from a number (SQNR dB), ``"metric >= value"``, or ``"gate:NAME"`` (the suite's gate NAME)."""
    from harness.quality import QualityError
    from harness.quality.gates import parse_gate

    if value is None:
        value = DEFAULT_FLOOR
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Floor("sqnr_db", ">=", float(value))
    text = str(value).strip()
    if text.startswith("gate:"):
        name = text[5:].strip()
        if name not in (gates or {}):
            raise UsageError(f"int8-auto floor {text!r} names gate {name!r}, but the suite's gates are "
                             f"{sorted(gates or {}) or 'none'}; add it under gates: or give 'sqnr_db >= 25'")
        metric, spec = name, str((gates or {})[name])
    else:
        cut = next((i for i, c in enumerate(text) if c in "<>="), None)
        if cut is None or cut == 0:
            raise UsageError(f"int8-auto floor {value!r}: expected a number (SQNR dB), 'metric >= value' "
                             "(e.g. 'top1_agreement >= 0.97') or 'gate:NAME'")
        metric, spec = text[:cut].strip(), text[cut:]
    try:
        gate = parse_gate(spec)
    except QualityError as exc:
        raise UsageError(f"int8-auto floor {value!r}: {exc}") from exc
    return Floor(metric, gate.op, gate.threshold)


def submodules_of(model_path: Path, module: str) -> dict[str, list[str]]:
    """The parts of ``module`` one level deeper (name → keep_float patterns), for the compute nodes under it:
    ``up/conv/Conv`` → ``up/conv``; a compute node directly under the module is a part of its own."""
    import onnx

    prefix = module.rstrip("/") + "/"
    parts: dict[str, list[str]] = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        if node.op_type not in COMPUTE_OPS or not node.name.startswith(prefix):
            continue
        rest = node.name[len(prefix):].split("/")
        if len(rest) == 1:
            parts[node.name] = [node.name]
        else:
            part = prefix + rest[0]
            parts[part] = [f"{part}/*"]
    return parts


def modules_of(model_path: Path, mapping: Mapping[str, Sequence[str]] | None = None,
               depth: int | None = None) -> dict[str, list[str]]:
    """Module name → keep_float patterns, for the modules that hold compute nodes."""
    import onnx

    nodes = [(n.name, n.op_type) for n in onnx.load(str(model_path), load_external_data=False).graph.node]
    if mapping:
        out = {str(k): [str(p) for p in (v if isinstance(v, (list, tuple)) else [v])] for k, v in mapping.items()}
        if not out or not all(out.values()):
            raise UsageError(f"int8-auto modules must map names to lists of node-name globs; found {mapping!r}")
        return out
    compute = [name for name, op in nodes if op in COMPUTE_OPS and name]
    for d in ([depth] if depth else [1, 2, 3]):
        groups: dict[str, list[str]] = {}
        for name in compute:
            parts = name.split("/")
            lead = "/" if name.startswith("/") else ""
            parts = [p for p in parts if p]
            if len(parts) <= d:
                continue  # a node directly at this level is no module
            groups.setdefault(lead + "/".join(parts[:d]), []).append(name)
        if len(groups) >= 2 or depth:
            return {m: [f"{m}/*"] for m in groups}
    return {}


@dataclass
class Pass:
    """One build + evaluation of a plan."""

    kind: str  # full | only_quantized | only_float | greedy
    module: str | None
    keep_float: list[str]
    figure: float | None
    met: bool | None
    seconds: float
    status: str = "ok"  # ok | skipped | failed
    reason: str | None = None
    compute_nodes: dict[str, Any] | None = None


@dataclass
class AutoResult:
    floor: str
    modules: dict[str, list[str]]
    passes: list[Pass] = field(default_factory=list)
    parts: dict[str, list[str]] = field(default_factory=dict)  # refine's sub-modules → patterns
    keep_float: list[str] | None = None  # the plan: module names kept in float (None: no plan meets the floor)
    met: bool = False
    best: dict[str, Any] | None = None  # the best plan found when none meets the floor
    note: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sensitivity"] = self.sensitivity()
        d["suite_snippet"] = self.suite_snippet()
        return d

    def sensitivity(self) -> list[dict[str, Any]]:
        """Per module: figure with only it quantized, with only it in float, and the gain vs all-int8."""
        full = next((p.figure for p in self.passes if p.kind == "full"), None)
        rows = []
        for m in self.modules:
            alone = next((p for p in self.passes if p.kind == "only_quantized" and p.module == m), None)
            kept = next((p for p in self.passes if p.kind == "only_float" and p.module == m), None)
            rows.append({
                "module": m,
                "only_quantized": alone.figure if alone else None,
                "only_float": kept.figure if kept else None,
                "gain_if_float": (kept.figure - full) if kept and kept.figure is not None and full is not None
                else None,
                "seconds": round(sum(p.seconds for p in (alone, kept) if p), 3),
            })
        return rows

    def suite_snippet(self) -> str:
        plan = self.keep_float if self.keep_float is not None else (self.best or {}).get("keep_float")
        if plan is None:
            return "# int8-auto found no plan"
        known = {**self.modules, **self.parts}
        patterns = [p for m in plan for p in known.get(m, [m])]
        head = "" if self.met else f"# does not meet {self.floor}: the best plan found\n"
        if not patterns:
            return head + "- int8"
        return head + f"- {{name: int8-mixed, keep_float: {json.dumps(patterns)}}}"


Evaluate = Callable[[list[str]], Pass]


Split = Callable[[str], Mapping[str, list[str]]]


def search(evaluate: Evaluate, modules: Mapping[str, list[str]], floor: Floor, budget_s: float | None = None,
           sensitivity: bool = True, split: Split | None = None) -> AutoResult:
    """Run the passes (module docstring) with ``evaluate(keep_float_names) -> Pass``; ``split(module)`` gives
    a module's parts for the refine step (None: no refine). ``evaluate`` must know the parts' patterns."""
    started = time.perf_counter()
    result = AutoResult(floor=str(floor), modules=dict(modules))
    names = list(modules)

    def over_budget() -> bool:
        return budget_s is not None and time.perf_counter() - started > budget_s

    measured: dict[frozenset[str], Pass] = {}

    def run(kind: str, module: str | None, keep: list[str]) -> Pass:
        earlier = measured.get(frozenset(keep))
        if earlier is not None:  # e.g. the greedy plan with all modules but one = "only that one quantized"
            p = Pass(kind, module, list(keep), earlier.figure, earlier.met, 0.0, earlier.status,
                     "same plan as an earlier pass", earlier.compute_nodes)
        else:
            p = evaluate(keep)
            p.kind, p.module = kind, module
            measured[frozenset(keep)] = p
        result.passes.append(p)
        return p

    full = run("full", None, [])
    if sensitivity:
        for m in names:
            if over_budget():
                break
            run("only_quantized", m, [n for n in names if n != m])
            run("only_float", m, [m])
    _greedy(run, names, full, result, over_budget)
    if result.met and split is not None:
        _refine(run, split, result, over_budget)
    _conclude(result, floor, over_budget())
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _greedy(run: Callable[[str, str | None, list[str]], Pass], names: list[str], full: Pass, result: AutoResult,
            over_budget: Callable[[], bool]) -> None:
    if full.met:
        result.keep_float, result.met = [], True
        return
    rows = {r["module"]: r for r in result.sensitivity()}

    def harm(m: str) -> tuple[float, float]:
        gain = rows[m]["gain_if_float"]
        alone = rows[m]["only_quantized"]
        # most gain when kept in float first; then the worst alone-figure (a lower figure is more harm)
        return (-(gain if gain is not None else float("-inf")), alone if alone is not None else float("inf"))

    keep: list[str] = []
    for m in sorted(names, key=harm):
        if over_budget():
            break
        keep = [*keep, m]
        p = run("greedy", m, keep)
        if p.met:
            result.keep_float, result.met = keep, True
            return


def _refine(run: Callable[[str, str | None, list[str]], Pass], split: Split, result: AutoResult,
            over_budget: Callable[[], bool]) -> None:
    """Replace each kept module by the fewest of its parts that still meet the floor (module docstring, 5)."""
    for module in list(result.keep_float or []):
        parts = dict(split(module))
        if len(parts) < 2 or over_budget():
            continue
        result.parts.update(parts)
        rest = [m for m in result.keep_float or [] if m != module]
        gains = {part: run("refine_only_float", part, [*rest, part]) for part in parts if not over_budget()}
        if len(gains) < len(parts):
            return
        order = sorted(parts, key=lambda part: -(gains[part].figure if gains[part].figure is not None
                                                   else float("-inf")))
        keep: list[str] = []
        for part in order[:-1]:  # all parts in float is the module itself: already met
            if over_budget():
                return
            keep = [*keep, part]
            if run("refine", part, [*rest, *keep]).met:
                result.keep_float = [*rest, *keep]
                break


def _conclude(result: AutoResult, floor: Floor, out_of_time: bool) -> None:
    scored = [p for p in result.passes if p.figure is not None and p.status == "ok"]
    if result.met:
        return
    higher_better = floor.op in (">=", ">", "==")
    if scored:
        best = (max if higher_better else min)(scored, key=lambda p: p.figure)
        result.best = {"keep_float": _module_names(best, result), "figure": best.figure, "kind": best.kind}
    why = "the time budget ran out before a plan met it" if out_of_time else "no plan the search tried meets it"
    result.note = (f"floor {floor} not reached: {why}" +
                   (f"; best plan found: keep {result.best['keep_float']} in float at {floor.metric} = "
                    f"{result.best['figure']:.4g}" if result.best else "; no plan could be scored"))


def _module_names(p: Pass, result: AutoResult) -> list[str]:
    return [m for m in [*result.modules, *result.parts] if m in p.keep_float]


# ---------------------------------------------------------------------------------------------------
# running it for one backend


class BackendEvaluator:
    """Builds ``int8`` / ``int8-mixed`` for a keep-float plan with a backend, runs the evaluation set and
    scores it against the fp32 reference outputs."""

    def __init__(self, make_backend: Callable[[], Any], source: Any, base_settings: Mapping[str, Any],
                 calibration: list[dict[str, np.ndarray]], evaluation: list[dict[str, np.ndarray]],
                 reference: list[dict[str, np.ndarray]], modules: Mapping[str, list[str]], floor: Floor,
                 cache_dir: Path) -> None:
        self.make_backend, self.source, self.base = make_backend, source, dict(base_settings)
        self.calibration, self.evaluation, self.reference = calibration, evaluation, reference
        self.modules, self.floor, self.cache_dir = modules, floor, cache_dir

    def variant(self, keep: list[str]) -> Any:
        from backends.base import Variant

        if not keep:
            return Variant("int8", dict(self.base))
        patterns = [p for m in keep for p in self.modules[m]]
        return Variant("int8-mixed", {**self.base, "keep_float": patterns, "require_match": False})

    def __call__(self, keep: list[str]) -> Pass:
        from backends.base import BackendError, UnsupportedVariant
        from harness.quality.fidelity import score_outputs

        started = time.perf_counter()
        backend = self.make_backend()
        try:
            artifact = backend.prepare(self.source, self.variant(keep), self.calibration, self.cache_dir)
            backend.load(artifact)
            outputs = [backend.infer(f) for f in self.evaluation]
        except UnsupportedVariant as exc:
            return Pass("", None, keep, None, None, time.perf_counter() - started, "skipped", str(exc)[:500])
        except BackendError as exc:
            return Pass("", None, keep, None, None, time.perf_counter() - started, "failed", str(exc)[:500])
        finally:
            backend.close()
        names = list(self.reference[0])
        scores = score_outputs({n: [r[n] for r in self.reference] for n in names},
                               {n: [o[n] for o in outputs] for n in names}, dict(self.source.output_kinds))
        figure = scores.get(self.floor.metric)
        return Pass("", None, keep, float(figure) if isinstance(figure, (int, float)) else None,
                    self.floor.met(scores), round(time.perf_counter() - started, 3),
                    compute_nodes=artifact.metadata.get("compute_nodes"))


def split_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(int8-auto's own settings, the recipe settings passed to each build)."""
    own = {k: v for k, v in settings.items() if k in AUTO_KEYS}
    rest = {k: v for k, v in settings.items() if k not in AUTO_KEYS and k != "prebuilt"}
    return own, rest


def cache_key(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, list) and part and isinstance(part[0], Mapping):
            for sample in part:
                for k in sorted(sample):
                    a = np.ascontiguousarray(sample[k])
                    h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
                    h.update(a.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load_cached(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def ordered_unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


def resolve_for_plan(plan: Any, source: Any, reference: Any, make_backend: Callable[[], Any],
                     options: Mapping[str, Any], calibration: list[dict[str, np.ndarray]],
                     cache_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The variant an ``int8-auto`` plan runs (``int8`` or ``int8-mixed`` with the chosen keep_float) and
    the search's record (plan, floor, sensitivity table, passes with their times). Cached by content."""
    from backends.base import UnsupportedVariant, onnx_io_specs
    from harness import data
    from harness import reference as ref
    from harness.inputs import resolve_specs

    own, base = split_settings(plan.precision.settings)
    floor = parse_floor(own.get("floor"), plan.gates)
    if source.format != "onnx":
        raise UnsupportedVariant(f"int8-auto searches ONNX models (node-name modules); {source.path.name} is "
                                 f"{source.format}")
    modules = modules_of(source.path, own.get("modules"), own.get("module_depth"))
    if len(modules) < 1:
        raise UnsupportedVariant("int8-auto found no modules: node names carry no 'module/...' prefix; give a "
                                 "mapping, e.g. modules: {encoder: ['enc*'], head: ['fc*']}")
    specs, _ = resolve_specs(onnx_io_specs(source.path)[0], source.input_shapes)
    evaluation = data.evaluation_set(plan.model.zoo, specs, calib_dir=plan.data.calibration_dir,
                                     n=max(plan.data.evaluation, 2), seed=plan.data.seed)
    refine = own.get("refine", False)
    if not isinstance(refine, bool):
        raise UsageError(f"int8-auto refine must be true or false; found {refine!r}")
    key = cache_key(SEARCH_VERSION, source.sha256, plan.backend.name, dict(options), base, str(floor), modules,
                    own.get("sensitivity", True), refine, calibration, evaluation)
    path = Path(cache_dir) / "int8-auto" / f"{key}.json"
    info = load_cached(path)
    if info is None:
        expected = ref.reference_outputs(reference or source, evaluation, Path(cache_dir) / "reference")
        known = dict(modules)  # the evaluator's patterns: the modules, and the parts refine adds
        evaluator = BackendEvaluator(make_backend, source, base, calibration, evaluation, expected, known, floor,
                                     Path(cache_dir) / "artifacts")

        def split(module: str) -> dict[str, list[str]]:
            parts = submodules_of(source.path, module) if not own.get("modules") else {}
            known.update(parts)
            return parts

        result = search(evaluator, modules, floor, own.get("budget_s"), bool(own.get("sensitivity", True)),
                        split if refine else None)
        info = result.to_dict()
        store(path, info)
    else:
        info["cache_hit"] = True
    plan_modules = info["keep_float"] if info["met"] else (info.get("best") or {}).get("keep_float")
    if plan_modules is None:
        raise UnsupportedVariant(f"int8-auto: {info.get('note')}")
    known = {**modules, **(info.get("parts") or {})}
    evaluator = BackendEvaluator(make_backend, source, base, calibration, [], [], known, floor, Path(cache_dir))
    return evaluator.variant(plan_modules), info
