"""OpenVINO's own int8 recipe (NNCF post-training quantization) and a count of what runs in int8.

NNCF's guide (docs.openvino.ai, "Basic quantization flow"): quantize the ``ov.Model`` with
``nncf.quantize(model, nncf.Dataset(...))``; ``model_type=nncf.ModelType.TRANSFORMER`` for models
with attention (it keeps sensitive ops such as Softmax/LayerNorm inputs in float and applies
SmoothQuant to MatMuls), ``preset`` PERFORMANCE (symmetric activations, fastest) or MIXED
(asymmetric activations, for non-ReLU nets), ``fast_bias_correction`` on by default, and an
``ignored_scope`` for the layers kept in float. ``recipe(...)`` makes those choices, from the
settings and the graph, with the reason for each; ``compute_nodes(...)`` reads back from the CPU
plugin's execution graph how many compute layers run in int8.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

#: settings the NNCF recipe reads; any other key a suite gives (ONNX Runtime's format, per_channel, ...)
#: is listed as ignored in the recipe, since one suite precision serves every backend
NNCF_SETTINGS = ("method", "preset", "model_type", "subset_size", "fast_bias_correction", "keep_float",
                 "require_match", "prebuilt", "calibration_min")
#: execution-graph layer types that do the model's arithmetic (CPU plugin names)
COMPUTE_LAYERS = ("Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul",
                  "BinaryConvolution")
INT8_PRECISIONS = ("i8", "u8", "I8", "U8")


def is_attention_model(op_types: Iterable[str]) -> bool:
    """Softmax next to MatMuls is the signature of attention (ONNX or OpenVINO op names)."""
    ops = set(op_types)
    return ("Softmax" in ops and bool(ops & {"MatMul", "Einsum"})) or "ScaledDotProductAttention" in ops


def recipe(settings: Mapping[str, Any], op_types: Iterable[str]) -> dict[str, Any]:
    """The NNCF call's settings made concrete, with ``basis`` (why) and ``ignored_settings``."""
    ops = set(op_types)
    chosen: dict[str, Any] = {"tool": "nncf.quantize"}
    basis: dict[str, str] = {}
    model_type = str(settings.get("model_type") or "auto").lower()
    if model_type == "auto":
        model_type = "transformer" if is_attention_model(ops) else "none"
        basis["model_type"] = ("Softmax + MatMul: attention model" if model_type == "transformer"
                               else "no attention found")
    if model_type not in ("transformer", "none"):
        raise ValueError(f"model_type must be auto, transformer or none; found {settings.get('model_type')!r}")
    chosen["model_type"] = model_type
    preset = str(settings.get("preset") or "auto").lower()
    if preset == "auto":
        # NNCF's own default: MIXED for transformers, PERFORMANCE otherwise.
        preset = "mixed" if model_type == "transformer" else "performance"
        basis["preset"] = "NNCF's default for this model type"
    if preset not in ("performance", "mixed"):
        raise ValueError(f"preset must be auto, performance or mixed; found {settings.get('preset')!r}")
    chosen["preset"] = preset
    fbc = settings.get("fast_bias_correction", True)
    if not isinstance(fbc, bool):
        raise ValueError(f"fast_bias_correction must be true or false; found {fbc!r}")
    chosen["fast_bias_correction"] = fbc
    chosen["subset_size"] = settings.get("subset_size")
    chosen["keep_float"] = list(settings.get("keep_float") or [])
    chosen["ignored_settings"] = sorted(k for k in settings if k not in NNCF_SETTINGS)
    chosen["basis"] = basis
    return chosen


def quantize_kwargs(chosen: Mapping[str, Any], n_samples: int) -> dict[str, Any]:
    """Keyword arguments of ``nncf.quantize`` for a recipe from ``recipe()``."""
    import nncf

    kwargs: dict[str, Any] = {
        "subset_size": int(chosen.get("subset_size") or n_samples),
        "preset": nncf.QuantizationPreset.MIXED if chosen["preset"] == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        "fast_bias_correction": chosen["fast_bias_correction"],
    }
    if chosen["model_type"] == "transformer":
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    if chosen["keep_float"]:
        kwargs["ignored_scope"] = nncf.IgnoredScope(patterns=globs_to_regex(chosen["keep_float"]), validate=False)
    return kwargs


def globs_to_regex(patterns: Iterable[str]) -> list[str]:
    """Suite globs ('upsampler', 'enc/*') as the regular expressions NNCF matches node names with: a
    bare module name means everything under it, as in the ONNX Runtime recipe."""
    out = []
    for p in patterns:
        rx = re.escape(p).replace(r"\*", ".*").replace(r"\?", ".")
        out.append(rx if any(c in p for c in "*?/") else f"{rx}(/.*)?")
    return out


def compute_nodes(compiled: Any, source_compute_names: Iterable[str] = ()) -> dict[str, Any]:
    """Compute layers of a compiled model's execution graph and how many run int8.

    A fused ``Subgraph`` counts as compute when it carries the name of a MatMul/Convolution of the
    model (the CPU plugin fuses attention blocks under the name of their MatMul)."""
    names = set(source_compute_names)
    by_type: Counter[str] = Counter()
    quantized = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if layer not in COMPUTE_LAYERS and not (layer == "Subgraph" and op.get_friendly_name() in names):
            continue
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else ""
        int8 = precision in INT8_PRECISIONS
        quantized += int8
        by_type[f"{layer}:{precision or '?'}"] += 1
    return {"quantized": quantized, "total": sum(by_type.values()), "by_op": dict(sorted(by_type.items())),
            "counted_in": "OpenVINO CPU execution graph (runtimePrecision of each compute layer)"}


def model_compute_names(model: Any) -> list[str]:
    """Friendly names of the MatMul/Convolution ops of an ``ov.Model``."""
    kinds = {"MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData"}
    return [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() in kinds]
