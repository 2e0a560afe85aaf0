"""OpenVINO's own int8 recipe (NNCF post-training quantization) and a count of what runs in int8.

NNCF's guide (docs.openvino.ai, "Basic quantization flow"): quantize the ``ov.Model`` with
``nncf.quantize(model, nncf.Dataset(...))``; ``model_type=nncf.ModelType.TRANSFORMER`` for models
with attention (it keeps sensitive ops such as Softmax/LayerNorm inputs in float and applies
SmoothQuant to MatMuls), ``preset`` PERFORMANCE (symmetric activations, fastest) or MIXED
(asymmetric activations, for non-ReLU nets), ``fast_bias_correction`` on by default, and an
``ignored_scope`` for the layers kept in float. ``recipe(...)`` makes those choices, from the
settings and the graph, with the reason for each; ``compute_nodes(...)`` reads back from the CPU
plugin's execution graph how many compute layers run in int8.

An int8 layer is only worth it when the CPU plugin has an int8 kernel for it. Some shapes have none
(foley's stride-4 ConvTranspose on AVX-512: precision i8, primitive ``jit_avx512_f32``, 16 ms instead of
0.25 ms in float), so after quantizing, the recipe compiles the result, finds the compute layers that
would run int8 on a float kernel (``layers_without_int8_kernel``), and quantizes again with those kept
in float (``kernel_check``, on by default).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

#: settings the NNCF recipe reads; any other key a suite gives (ONNX Runtime's format, per_channel, ...)
#: is listed as ignored in the recipe, since one suite precision serves every backend
NNCF_SETTINGS = ("method", "preset", "model_type", "subset_size", "fast_bias_correction", "keep_float",
                 "require_match", "prebuilt", "calibration_min", "kernel_check")
#: bumped when a default of ``recipe()`` changes, so cached IRs made under the old default are not reused
RECIPE_VERSION = 2
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
        # NNCF's default for transformers is MIXED (asymmetric activations). Symmetric activations feed the
        # CPU plugin's fastest int8 kernels: on the zoo models (AVX-512 VNNI, 1 thread) PERFORMANCE was
        # 1.2x faster than MIXED on talking-head (45.6 vs 49.1 dB) and, with the layers lacking an int8
        # kernel kept in float, as fast on foley at 21 dB instead of 15.5. ``tune`` tries MIXED too.
        preset = "performance"
        basis["preset"] = ("symmetric activations: the CPU plugin's fastest int8 path (NNCF's default for "
                           "transformers, mixed, is a tune recipe)")
    if preset not in ("performance", "mixed"):
        raise ValueError(f"preset must be auto, performance or mixed; found {settings.get('preset')!r}")
    chosen["preset"] = preset
    fbc = settings.get("fast_bias_correction", True)
    if not isinstance(fbc, bool):
        raise ValueError(f"fast_bias_correction must be true or false; found {fbc!r}")
    chosen["fast_bias_correction"] = fbc
    chosen["subset_size"] = settings.get("subset_size")
    chosen["keep_float"] = list(settings.get("keep_float") or [])
    kernel_check = settings.get("kernel_check", True)
    if not isinstance(kernel_check, bool):
        raise ValueError(f"kernel_check must be true or false; found {kernel_check!r}")
    chosen["kernel_check"] = kernel_check
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
    names = list(chosen.get("no_int8_kernel") or [])
    if chosen["keep_float"] or names:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=names, patterns=globs_to_regex(chosen["keep_float"]),
                                                    validate=False)
    return kwargs


def globs_to_regex(patterns: Iterable[str]) -> list[str]:
    """Suite globs ('upsampler', 'enc/*') as the regular expressions NNCF matches node names with: a
    bare module name means everything under it, as in the ONNX Runtime recipe."""
    out = []
    for p in patterns:
        rx = re.escape(p).replace(r"\*", ".*").replace(r"\?", ".")
        out.append(rx if any(c in p for c in "*?/") else f"{rx}(/.*)?")
    return out


def _compute_layers(compiled: Any, source_compute_names: Iterable[str]) -> Iterator[tuple[Any, str, str, str]]:
    """(op, layer type, runtime precision, primitive type) of each compute layer of the execution graph.

    A fused ``Subgraph`` counts as compute when it carries the name of a MatMul/Convolution of the
    model (the CPU plugin fuses attention blocks under the name of their MatMul)."""
    names = set(source_compute_names)
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if layer not in COMPUTE_LAYERS and not (layer == "Subgraph" and op.get_friendly_name() in names):
            continue
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else ""
        primitive = info["primitiveType"].astype(str) if "primitiveType" in info else ""
        yield op, layer, precision, primitive


def has_int8_kernel(primitive: str) -> bool | None:
    """Whether a CPU-plugin primitive name ('brgconv_avx512_I8', 'jit_avx512_f32', 'ref_any_i8') is an int8
    kernel; None when the name carries no precision (older plugins, other devices)."""
    tail = primitive.rsplit("_", 1)[-1].lower() if "_" in primitive else ""
    if tail in ("i8", "u8"):
        return not primitive.lower().startswith("ref")
    return False if tail in ("f32", "bf16", "f16") else None


def compute_nodes(compiled: Any, source_compute_names: Iterable[str] = ()) -> dict[str, Any]:
    """Compute layers of a compiled model's execution graph and how many run int8 on an int8 kernel
    (a layer in int8 precision on a float or reference kernel is listed under ``no_int8_kernel``)."""
    by_type: Counter[str] = Counter()
    quantized = 0
    slow: list[str] = []
    for op, layer, precision, primitive in _compute_layers(compiled, source_compute_names):
        int8 = precision in INT8_PRECISIONS
        if int8 and has_int8_kernel(primitive) is False:
            slow.append(f"{op.get_friendly_name()} ({primitive})")
            int8 = False
        quantized += int8
        by_type[f"{layer}:{precision or '?'}"] += 1
    out = {"quantized": quantized, "total": sum(by_type.values()), "by_op": dict(sorted(by_type.items())),
           "counted_in": "OpenVINO CPU execution graph (runtimePrecision and primitive of each compute layer)"}
    if slow:
        out["no_int8_kernel"] = slow
    return out


def layers_without_int8_kernel(compiled: Any, model: Any) -> dict[str, str]:
    """Compute ops of ``model`` (the ov.Model that was quantized) that the compiled result runs in int8
    precision on a non-int8 kernel: friendly name (what NNCF's ignored scope matches) → the name a reader
    knows the layer by (the source model's node name when the plugin kept it, e.g. 'up/ConvTranspose')."""
    wanted = set(model_compute_names(model))
    found: dict[str, str] = {}
    for op, _layer, precision, primitive in _compute_layers(compiled, wanted):
        if precision not in INT8_PRECISIONS or has_int8_kernel(primitive) is not False:
            continue
        info = op.get_rt_info()
        originals = info["originalLayersNames"].astype(str).split(",") if "originalLayersNames" in info else []
        names = [n for n in [op.get_friendly_name(), *originals] if n in wanted]
        readable = next((n for n in originals if "/" in n), op.get_friendly_name())
        for n in names:
            found.setdefault(n, readable)
    return found


def model_compute_names(model: Any) -> list[str]:
    """Friendly names of the MatMul/Convolution ops of an ``ov.Model``."""
    kinds = {"MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData"}
    return [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() in kinds]
