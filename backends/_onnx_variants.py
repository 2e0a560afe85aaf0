"""Precision variants of an fp32 ONNX model, built with onnx and onnxruntime.quantization and cached.

``prepare_onnx_variant(model, variant, calibration, cache_dir) -> Artifact`` turns one fp32 ONNX
model into the precision users compare. The ONNX Runtime adapter calls it from ``prepare()``, and
the OpenVINO adapter calls it for the QDQ model it compiles.

Precisions and their settings (``Variant.settings``; unknown keys are an error, missing keys take
the default shown):

``fp32``
    The source itself (referenced, not copied). No settings.
``fp16``
    float16 weights and compute with float32 inputs/outputs (``onnxruntime.transformers.float16``).
    ``keep_io_types: true``; ``op_block_list: null`` (op types kept in float32; null = ORT's list).
``int8-dynamic``
    ``quantize_dynamic``: int8 weights, activations quantized at run time.
    ``per_channel: false``, ``reduce_range: auto``, ``weight_type: QInt8`` (QInt8|QUInt8),
    ``preprocess: true``, ``op_types: auto`` (GEMM-like ops: MatMul, Gemm, Attention, LSTM; Conv
    only when the model has none of those, since ConvInteger is slower than float Conv on CPU).
``int8``
    ``quantize_static`` (post-training, calibrated), the recipe ONNX Runtime's guide gives:
    ``preprocess: true`` (``quant_pre_process`` first; on failure a lesser step, then none, with the
    reason in ``recipe.preprocess``), models older than opset 13 converted first, ``format: QDQ``
    (QDQ|QOperator), ``per_channel: true``, ``calibrate_method: MinMax`` (MinMax|Entropy|
    Percentile; the histogram methods need 2+ samples), ``percentile: 99.999``,
    ``activation_type``/``weight_type``/``reduce_range: auto`` (the CPU's favourite: U8S8 on x86,
    S8S8 on Arm, reduce_range on x86 without VNNI; from the ``isa`` flags passed in),
    ``op_types: auto`` (ORT's op types less LayerNorm-like ones), ``symmetric: false`` (true: S8S8
    with zero points 0 and float biases, what TensorRT's explicit quantization takes).
    The resolved recipe is ``metadata.recipe``; ``metadata.compute_nodes`` counts the compute nodes
    that run quantized in ORT's optimised graph, and an int8 artifact with none raises
    UnsupportedVariant (a skipped run: its figures would be fp32's).
``int8-mixed``
    ``int8`` plus ``keep_float: [pattern, ...]`` (required): shell-style globs, each matched
    against node names (``upsampler/*``), module names (the part of a node name before its first
    ``/``: ``text_encoder``) and op types (``Softmax``); matching nodes stay in float. A pattern that
    matches nothing is an error naming the closest node/module/op names, unless
    ``require_match: false`` (for a suite whose models differ: unmatched patterns are then listed in
    the metadata, and only a list that matches nothing at all is an error).

Cache: ``cache_dir/<model name>/<precision>-<key>.onnx`` plus a ``.json`` sidecar with the
metadata. The key hashes the source's sha256, the precision, the settings with defaults filled in,
the calibration data (for static int8) and the onnx/onnxruntime versions: unchanged inputs reuse the
file, any change rebuilds. A build writes to a temporary name, is loaded once by onnxruntime to
prove it runs, and only then is renamed into place, so a failed build leaves nothing cached.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Artifact, BackendError, Feeds, ModelSource, UnsupportedVariant, Variant, artifact_bytes

#: bump when the way artifacts are built changes, so old cache entries are not reused
PIPELINE_VERSION = 2
#: fewer calibration samples than this gives a warning in the recipe (the ranges are noisy)
MIN_CALIBRATION_SAMPLES = 16

_QUANT_TYPES = ("QInt8", "QUInt8")
_STATIC_DEFAULTS: dict[str, Any] = {
    "format": "QDQ",
    "per_channel": True,
    "calibrate_method": "MinMax",
    "percentile": 99.999,
    "reduce_range": "auto",
    "activation_type": "auto",
    "weight_type": "auto",
    "preprocess": True,
    "op_types": "auto",
    "symmetric": False,
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "fp16": {"keep_io_types": True, "op_block_list": None},
    "int8-dynamic": {"per_channel": False, "reduce_range": "auto", "weight_type": "QInt8", "preprocess": True,
                     "op_types": "auto"},
    "int8": dict(_STATIC_DEFAULTS),
    "int8-mixed": {**_STATIC_DEFAULTS, "keep_float": None, "require_match": True},
}
_CHOICES = {
    "format": ("QDQ", "QOperator"),
    "calibrate_method": ("MinMax", "Entropy", "Percentile"),
    "activation_type": (*_QUANT_TYPES, "auto"),
    "weight_type": (*_QUANT_TYPES, "auto"),
}
_BOOLS = ("per_channel", "keep_io_types", "require_match", "preprocess", "symmetric")


def prepare_onnx_variant(
    model: ModelSource,
    variant: Variant,
    calibration: Iterable[Feeds] | None,
    cache_dir: Path,
    isa: Sequence[str] | None = None,
) -> Artifact:
    """Build (or reuse from ``cache_dir``) the ``variant`` of the fp32 ONNX ``model``.

    ``calibration`` is needed by ``int8`` and ``int8-mixed`` only (an iterable of feed dicts keyed
    by input name); other precisions ignore it and never iterate it. ``isa``: the CPU's feature flags
    (/proc/cpuinfo names), which decide the "auto" settings (see ``backends._ort_recipe``).
    An int8 artifact in which no compute node runs quantized raises UnsupportedVariant (a skipped run).
    """
    if model.format != "onnx":
        raise BackendError(
            f"{model.name}: precision variants are built from ONNX models, found format {model.format!r} "
            f"({model.path}); pass the .onnx file"
        )
    settings = normalize_settings(variant)
    source = Path(model.path)
    if not source.is_file():
        raise BackendError(f"{model.name}: model file {source} does not exist; check the path in the suite")
    _check_model(source, model.name)
    versions = _tool_versions()
    source_bytes = artifact_bytes(source)

    if variant.precision == "fp32":
        return Artifact(
            path=source,
            format="onnx",
            precision="fp32",
            source_sha256=model.sha256,
            bytes=source_bytes,
            metadata=_metadata(settings, source_bytes, source_bytes, versions, cache_hit=True, extra={"copied": False}),
        )

    feeds: list[dict[str, np.ndarray]] | None = None
    recipe = None
    if variant.precision.startswith("int8"):
        from backends._ort_recipe import resolve

        recipe = resolve(variant.precision, settings, isa, _op_types(source))
    key_parts: dict[str, Any] = {
        "pipeline": PIPELINE_VERSION,
        "source_sha256": model.sha256,
        "precision": variant.precision,
        "settings": settings,
        "recipe": recipe,
        "versions": versions,
    }
    if variant.precision in ("int8", "int8-mixed"):
        feeds = _collect_calibration(calibration, source, model.name)
        if settings["calibrate_method"] in ("Entropy", "Percentile") and len(feeds) < 2:
            raise BackendError(
                f"{model.name}: calibrate_method {settings['calibrate_method']} builds a histogram over the "
                f"calibration set and needs at least 2 samples, found {len(feeds)}; add samples (100 is typical) "
                "or use calibrate_method: MinMax")
        key_parts["calibration_sha256"] = _feeds_digest(feeds)
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:16]

    folder = Path(cache_dir) / _safe_name(model.name)
    target = folder / f"{variant.precision}-{key}.onnx"
    sidecar = target.with_suffix(".json")
    if target.is_file() and sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            meta = None  # a damaged sidecar: rebuild
        if isinstance(meta, dict):
            meta["cache_hit"] = True
            _require_int8_compute(meta, model.name, variant.precision)
            return Artifact(target, "onnx", variant.precision, model.sha256, artifact_bytes(target), meta)

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(f"cannot create the artifact cache folder {folder}: {exc.strerror or exc}; "
                           "pass a writable --out folder") from exc
    fd, tmp_name = tempfile.mkstemp(prefix=f".{variant.precision}-{key}.", suffix=".onnx.tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    started = time.perf_counter()
    try:
        extra = _build(source, model.name, variant.precision, recipe or settings, feeds, tmp)
        _smoke_load(tmp, model.name, variant.precision)
        build_s = time.perf_counter() - started
        out_bytes = artifact_bytes(tmp)
        extra.update({"build_s": round(build_s, 3), "cache_key": key})
        if recipe is not None:
            extra["recipe"] = {"tool": "onnxruntime.quantization", **recipe, **extra.pop("recipe_steps", {})}
            extra["compute_nodes"] = _compute_nodes(tmp, source)
        if feeds is not None:
            extra.update({"calibration_samples": len(feeds), "calibration_sha256": key_parts["calibration_sha256"]})
            if len(feeds) < MIN_CALIBRATION_SAMPLES and "recipe" in extra:
                extra["recipe"]["warnings"] = [
                    f"only {len(feeds)} calibration samples: {settings['calibrate_method']} ranges from so few are "
                    f"noisy (use {MIN_CALIBRATION_SAMPLES} or more; 100 is typical)"]
        meta = _metadata(settings, source_bytes, out_bytes, versions, cache_hit=False, extra=extra)
        tmp_json = tmp.with_suffix(".json.tmp")
        tmp_json.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        os.replace(tmp, target)
        os.replace(tmp_json, sidecar)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".json.tmp").unlink(missing_ok=True)
    # Cached either way: the same inputs would build the same float-only graph again.
    _require_int8_compute(meta, model.name, variant.precision)
    return Artifact(target, "onnx", variant.precision, model.sha256, artifact_bytes(target), meta)


# ---------------------------------------------------------------------------------------------
# settings


def normalize_settings(variant: Variant) -> dict[str, Any]:
    """The variant's settings with defaults filled in and names canonicalised; raises
    BackendError for an unknown precision, an unknown key or a bad value."""
    if variant.precision == "int8-auto":
        raise BackendError("int8-auto is resolved by the harness (edgebench run) into int8 or int8-mixed with the "
                           "modules its search keeps in float; an adapter cannot prepare it directly")
    if variant.precision not in DEFAULTS:
        raise BackendError(
            f"unknown precision {variant.precision!r}: expected one of {', '.join(DEFAULTS)}; "
            "fix the suite's precisions"
        )
    defaults = DEFAULTS[variant.precision]
    given = dict(variant.settings or {})
    # The runner marks prebuilt files; that flag says where the file came from, not how to build it.
    given.pop("prebuilt", None)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, list(defaults), n=1))
                 else repr(u) for u in unknown]
        raise BackendError(
            f"precision {variant.precision}: unknown setting {', '.join(hints)}; allowed settings: {allowed}"
        )
    out = dict(defaults)
    for k, v in given.items():
        out[k] = _check_value(variant.precision, k, v)
    if variant.precision == "int8-mixed" and not out["keep_float"]:
        raise BackendError(
            "precision int8-mixed needs keep_float: a list of node-name, module or op-type patterns to keep in "
            'float, e.g. keep_float: ["upsampler/*"]; found none'
        )
    if out.get("symmetric") and (out["activation_type"], out["weight_type"]) not in (("auto", "auto"),
                                                                                  ("QInt8", "QInt8")):
        raise BackendError(
            f"precision {variant.precision}: symmetric quantization is QInt8 activations and weights; found "
            f"activation_type {out['activation_type']}, weight_type {out['weight_type']}: drop one setting"
        )
    if out.get("activation_type") == "QInt8" and out.get("weight_type") == "QUInt8":
        raise BackendError(
            f"precision {variant.precision}: activation_type QInt8 with weight_type QUInt8 is not supported by "
            "onnxruntime; use activation_type QUInt8, or weight_type QInt8"
        )
    return out


def _check_value(precision: str, key: str, value: Any) -> Any:
    where = f"precision {precision}: setting {key}"
    if key == "reduce_range":
        if value != "auto" and not isinstance(value, bool):
            raise BackendError(f"{where} must be true, false or auto, found {value!r}")
        return value
    if key == "op_types":
        if value is None or value == "auto":
            return value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise BackendError(f"{where} must be auto, null (all ONNX Runtime quantizes) or a list of op types "
                               f"such as [MatMul, Gemm]; found {value!r}")
        return list(value)
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise BackendError(f"{where} must be true or false, found {value!r}")
        return value
    if key in _CHOICES:
        choices = _CHOICES[key]
        for c in choices:
            if isinstance(value, str) and value.lower() in (c.lower(), c.lower().lstrip("q")):
                return c
        raise BackendError(f"{where} must be one of {', '.join(choices)}, found {value!r}")
    if key == "percentile":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 50.0 < float(value) <= 100.0:
            raise BackendError(f"{where} must be a number in (50, 100], found {value!r}")
        return float(value)
    if key in ("keep_float", "op_block_list"):
        if value is None and key == "op_block_list":
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise BackendError(f"{where} must be a list of non-empty strings, found {value!r}")
        return list(value)
    raise BackendError(f"{where}: no validator (internal error)")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# checks


def _check_model(path: Path, name: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # onnx raises ValidationError, DecodeError, ... depending on the damage
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"{name}: {path} fails the ONNX checker ({type(exc).__name__}: {first}); "
            "re-export the model, or run `python -m onnx.checker` style checks on it to find the bad node"
        ) from exc


def _graph_inputs(path: Path) -> dict[str, tuple[tuple[int | str | None, ...], np.dtype]]:
    import onnx
    from onnx import helper

    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    out = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
        out[vi.name] = (dims, np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)))
    return out


def _collect_calibration(
    calibration: Iterable[Feeds] | None, source: Path, name: str
) -> list[dict[str, np.ndarray]]:
    if calibration is None:
        raise BackendError(
            f"{name}: static int8 needs calibration data, found none; pass a calibration folder (--calib DIR) "
            "or use int8-dynamic"
        )
    specs = _graph_inputs(source)
    feeds: list[dict[str, np.ndarray]] = []
    for i, sample in enumerate(calibration):
        if not isinstance(sample, Mapping):
            raise BackendError(f"{name}: calibration sample {i} is a {type(sample).__name__}, expected a dict of "
                               "input name -> array")
        missing = sorted(set(specs) - set(sample))
        extra = sorted(set(sample) - set(specs))
        if missing or extra:
            raise BackendError(
                f"{name}: calibration sample {i} does not match the model's inputs: expected {sorted(specs)}, "
                f"found {sorted(sample)}" + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "") + "; regenerate the calibration data for this model"
            )
        fixed = {}
        for k, (dims, dtype) in specs.items():
            arr = np.asarray(sample[k])
            if arr.dtype != dtype:
                if arr.dtype.kind != dtype.kind and not (arr.dtype.kind in "iu" and dtype.kind in "iu"):
                    raise BackendError(
                        f"{name}: calibration sample {i}, input {k!r}: expected dtype {dtype}, found {arr.dtype}; "
                        "save the calibration arrays with the model's input dtype"
                    )
                arr = arr.astype(dtype)
            if len(dims) != arr.ndim or any(isinstance(d, int) and d > 0 and d != s for d, s in zip(dims, arr.shape)):
                raise BackendError(
                    f"{name}: calibration sample {i}, input {k!r}: expected shape {list(dims)}, found "
                    f"{list(arr.shape)}; make the calibration arrays match the model's input shape"
                )
            fixed[k] = np.ascontiguousarray(arr)
        feeds.append(fixed)
    if not feeds:
        raise BackendError(
            f"{name}: the calibration set is empty; static int8 needs at least one sample (100 is typical): "
            "check the calibration folder or the suite's data.calibration count"
        )
    return feeds


def _feeds_digest(feeds: list[dict[str, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for sample in feeds:
        for k in sorted(sample):
            a = sample[k]
            h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _smoke_load(path: Path, name: str, precision: str) -> None:
    """Load the artifact once with onnxruntime's CPU provider: a variant that cannot run is a failed
    build, not a cache entry."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BackendError(
            f"{name}: the {precision} variant was built but onnxruntime cannot load it ({str(exc)[:300]}); "
            "try other settings (format QDQ, activation_type QUInt8) or report the model"
        ) from exc


# ---------------------------------------------------------------------------------------------
# builds


def _build(
    source: Path,
    name: str,
    precision: str,
    settings: dict[str, Any],
    feeds: list[dict[str, np.ndarray]] | None,
    out: Path,
) -> dict[str, Any]:
    """Write the variant to ``out``; return metadata about what was done."""
    import onnx

    if precision == "fp16":
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

        m = onnx.load(str(source))
        block = settings["op_block_list"] if settings["op_block_list"] is not None else list(DEFAULT_OP_BLOCK_LIST)
        try:
            with _quiet_ort():
                m16 = convert_float_to_float16(m, keep_io_types=settings["keep_io_types"], op_block_list=block)
        except Exception as exc:
            raise BackendError(f"{name}: float16 conversion failed ({type(exc).__name__}: {exc})") from exc
        onnx.save(m16, str(out))
        return {}

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    with tempfile.TemporaryDirectory(prefix="edgebench-quant-") as td:
        kept: list[str] = []
        unmatched: list[str] = []
        m, steps = _ready_for_quantization(source, Path(td), settings)
        if precision == "int8-mixed":
            # Matched on the graph as the user knows it (before pre-processing fuses nodes), then mapped
            # onto the nodes derived from them (a fused node is named '<original>/<fusion>').
            kept, unmatched = match_keep_float(steps.pop("_named_source"), settings["keep_float"], name,
                                               settings["require_match"])
        steps.pop("_named_source", None)
        excluded = _derived_nodes(m, kept)
        named = Path(td) / "source.onnx"
        onnx.save(m, str(named))
        op_types = settings.get("op_types")
        if isinstance(op_types, list) and not op_types:
            raise UnsupportedVariant(f"{name}: the model has none of the op types {precision} quantizes here; "
                                     "name some with the op_types setting, or use another precision")
        try:
            with _quiet_ort():
                if precision == "int8-dynamic":
                    quantize_dynamic(str(named), str(out), op_types_to_quantize=op_types,
                                     per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
                                     weight_type=getattr(QuantType, settings["weight_type"]))
                else:
                    quantize_static(str(named), str(out), _FeedReader(feeds or []),
                                    quant_format=getattr(QuantFormat, settings["format"]),
                                    op_types_to_quantize=op_types,
                                    per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
                                    activation_type=getattr(QuantType, settings["activation_type"]),
                                    weight_type=getattr(QuantType, settings["weight_type"]),
                                    nodes_to_exclude=excluded or None,
                                    calibrate_method=getattr(CalibrationMethod, settings["calibrate_method"]),
                                    extra_options=_static_extra(settings))
        except (BackendError, UnsupportedVariant):
            raise
        except Exception as exc:
            kind = "dynamic" if precision == "int8-dynamic" else "static"
            raise BackendError(f"{name}: {kind} quantization failed ({type(exc).__name__}: {exc}); "
                               f"steps before it: {steps}") from exc
    extra: dict[str, Any] = {"recipe_steps": steps}
    if precision == "int8-mixed":
        extra.update({"nodes_kept_float": kept, "keep_float_unmatched": unmatched, "nodes_excluded": excluded})
    return extra


def _static_extra(settings: dict[str, Any]) -> dict[str, Any]:
    # onnxruntime keeps every intermediate tensor of every calibration sample in memory before it
    # reduces them to ranges/histograms (its CalibMaxIntermediateOutputs option drops data rather
    # than folding it); feeding one sample per collect call folds as it goes and bounds memory.
    extra: dict[str, Any] = {"CalibStridedMinMax": 1}
    if settings["calibrate_method"] == "Percentile":
        extra["CalibPercentile"] = settings["percentile"]
    if settings.get("symmetric"):
        # TensorRT-style: zero points 0, biases left in float (TensorRT takes no int32 Q/DQ).
        extra.update({"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False})
    return extra


def _ready_for_quantization(source: Path, workdir: Path, settings: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The model the quantizer sees: opset >= 13 (per-channel QDQ needs it), then ORT's
    pre-processing unless ``preprocess: false``; returns it with what was done (and why not)."""
    import onnx

    from backends._ort_recipe import convert_opset, preprocess

    m = onnx.load(str(source))
    _name_unnamed_nodes(m)  # before anything else, so names are stable across the steps
    steps: dict[str, Any] = {"_named_source": m}
    try:
        m, old = convert_opset(m)
    except Exception as exc:  # the converter lacks adapters for some ops; quantize as is
        old, steps["opset_conversion_failed"] = None, f"{type(exc).__name__}: {str(exc)[:200]}"
    if old is not None:
        steps["opset_converted_from"] = old
    if not settings.get("preprocess", True):
        steps["preprocess"] = {"done": False, "fallback_reason": "preprocess: false in the settings"}
        return m, steps
    staged = workdir / "staged.onnx"
    onnx.save(m, str(staged))
    processed = workdir / "preprocessed.onnx"
    steps["preprocess"] = preprocess(staged, processed)
    if steps["preprocess"]["done"]:
        m = onnx.load(str(processed))
        _name_unnamed_nodes(m)
    return m, steps


def _derived_nodes(model: Any, names: list[str]) -> list[str]:
    """Nodes of ``model`` named as one of ``names`` or derived from one ('<name>/<fusion>')."""
    if not names:
        return []
    wanted = set(names)
    out = []
    for node in model.graph.node:
        parts = node.name.split("/")
        if any("/".join(parts[:i]) in wanted for i in range(1, len(parts) + 1)):
            out.append(node.name)
    return out


def _op_types(source: Path) -> set[str]:
    import onnx

    from backends._ort_recipe import _all_nodes

    return {n.op_type for n in _all_nodes(onnx.load(str(source), load_external_data=False).graph)}


def _compute_nodes(artifact: Path, source: Path) -> dict[str, Any]:
    """Compute nodes that run quantized in ``artifact``, and the float source's count for scale."""
    import onnx

    from backends._ort_recipe import _all_nodes, count_compute, graph_compute

    counts = count_compute(artifact)
    counts["source_total"] = graph_compute(_all_nodes(onnx.load(str(source), load_external_data=False).graph))["total"]
    return counts


def _require_int8_compute(meta: dict[str, Any], name: str, precision: str) -> None:
    """An int8 label must mean int8 compute: a graph with no quantized compute node is not an int8 result."""
    counts = meta.get("compute_nodes")
    if not precision.startswith("int8") or not isinstance(counts, dict) or counts.get("quantized"):
        return
    raise UnsupportedVariant(
        f"{name}: the {precision} artifact runs 0 of {counts.get('total')} compute nodes quantized "
        f"({counts.get('by_op')}): it would measure fp32, not int8. Check the recipe "
        f"({(meta.get('recipe') or {}).get('op_types')}) or pre-processing "
        f"({((meta.get('recipe') or {}).get('preprocess') or {}).get('fallback_reason') or 'done'})"
    )


def match_keep_float(
    model: Any, patterns: list[str], name: str = "model", require_match: bool = True
) -> tuple[list[str], list[str]]:
    """(names of the nodes of ``model`` that the ``keep_float`` patterns match, in graph order;
    patterns that matched nothing). A pattern matches a node's name, its module (the name before
    the first ``/``) or its op type. With ``require_match`` a pattern that matches nothing raises
    BackendError naming the closest names; without it, only a list matching nothing at all does."""
    nodes = [(n.name, n.op_type, n.name.split("/", 1)[0] if "/" in n.name else None) for n in model.graph.node]
    matched: list[str] = []
    seen: set[str] = set()
    unmatched: list[str] = []
    for pat in patterns:
        hits = [
            n for n, op, mod in nodes
            if fnmatch.fnmatchcase(n, pat) or fnmatch.fnmatchcase(op, pat) or (mod and fnmatch.fnmatchcase(mod, pat))
        ]
        if not hits:
            unmatched.append(pat)
        for h in hits:
            if h not in seen:
                seen.add(h)
                matched.append(h)
    bad = unmatched if require_match else (unmatched if not matched else [])
    if bad:
        pat = bad[0]
        modules = sorted({m for _, _, m in nodes if m})
        ops = sorted({op for _, op, _ in nodes})
        candidates = modules + ops + [n for n, _, _ in nodes]
        close = difflib.get_close_matches(pat.rstrip("*/"), candidates, n=6, cutoff=0.5)
        raise BackendError(
            f"{name}: keep_float pattern {pat!r} matches no node, module or op type; "
            + (f"closest: {', '.join(close)}; " if close else "")
            + f"modules: {', '.join(modules) or 'none (node names have no module/ prefix)'}; "
            f"op types: {', '.join(ops)}. Patterns are shell globs over node names ('upsampler/*'), "
            "module names ('upsampler') or op types ('Softmax')"
        )
    order = {n: i for i, (n, _, _) in enumerate(nodes)}
    return sorted(matched, key=order.__getitem__), unmatched


def _name_unnamed_nodes(model: Any) -> None:
    """Give every unnamed node a stable name (``<OpType>_<index>``) so it can be excluded by name."""
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            candidate = f"{node.op_type}_{i}"
            while candidate in used:
                candidate += "_"
            node.name = candidate
            used.add(candidate)


class _FeedReader:
    """onnxruntime CalibrationDataReader over a list of feeds (duck-typed: get_next, set_range, len)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = feeds
        self._start, self._end = 0, len(feeds)
        self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(self._feeds[start_index:end_index])

    def __len__(self) -> int:
        return len(self._feeds)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self._feeds)


class _DropNoise(logging.Filter):
    # onnxruntime.quantization logs advice (pre-processing, ...) through the root logger on every call.
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_ort() -> Iterator[None]:
    root = logging.getLogger()
    f = _DropNoise()
    root.addFilter(f)
    try:
        yield
    finally:
        root.removeFilter(f)


# ---------------------------------------------------------------------------------------------
# metadata


def _tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}


def _metadata(
    settings: dict[str, Any],
    source_bytes: int,
    out_bytes: int,
    versions: dict[str, str],
    cache_hit: bool,
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "settings": settings,
        "source_bytes": source_bytes,
        "artifact_bytes": out_bytes,
        # artifact size / fp32 size (0.26 = a quarter of the fp32 file) and its inverse
        "size_ratio_vs_fp32": round(out_bytes / source_bytes, 4) if source_bytes else None,
        "compression_ratio": round(source_bytes / out_bytes, 3) if out_bytes else None,
        "tool_versions": versions,
        "cache_hit": cache_hit,
        "pipeline_version": PIPELINE_VERSION,
        **extra,
    }


def _safe_name(name: str) -> str:
    """One path component: separators and other odd characters become '_', and a name made of dots
    ('..') or starting with one cannot climb out of the cache or hide."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:120]
    return ("_" + safe[1:] if safe.startswith(".") else safe) or "model"
