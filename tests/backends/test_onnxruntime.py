"""ONNX Runtime adapter: what a precision label runs as, read back from the optimised graph (real runtime)."""

from __future__ import annotations

import pytest

from backends.base import UnsupportedVariant, Variant
from backends.onnxruntime import OnnxRuntimeBackend
from results.schema import precision_mismatch
from tests.backends.small_onnx import conv_source, feeds, needs

pytestmark = needs("onnxruntime", "the adapter's tests run the real runtime")


def _loaded(precision: str, tmp_path) -> OnnxRuntimeBackend:
    backend = OnnxRuntimeBackend({"threads": 1})
    backend.load(backend.prepare(conv_source(), Variant(precision), feeds(8, 0), tmp_path))
    return backend


def test_fp32_runs_fp32(tmp_path):
    executed = _loaded("fp32", tmp_path).executed_precision()
    assert executed["precision"] == "fp32" and set(executed["by_type"]) == {"fp32"}
    assert executed["source"].startswith("onnxruntime optimised graph") and executed["unit"] == "nodes"


def test_fp16_says_what_the_cpu_provider_ran(tmp_path):
    """On x86 the CPU provider wraps fp16 ops it has no kernel for in casts: the read-back shows fp32."""
    executed = _loaded("fp16", tmp_path).executed_precision()
    assert executed["precision"] in ("fp16", "fp32")
    if executed["precision"] == "fp32":
        assert "executed fp32" in precision_mismatch("fp16", executed)


def test_int8_dynamic_counts_integer_kernels(tmp_path):
    executed = _loaded("int8-dynamic", tmp_path).executed_precision()
    assert executed["precision"] == "int8" and executed["by_type"]["int8"] >= 2  # the two ConvInteger nodes


def test_bf16_is_skipped_with_the_runtime_reason(tmp_path):
    with pytest.raises(UnsupportedVariant, match="no bfloat16 kernels"):
        OnnxRuntimeBackend().prepare(conv_source(), Variant("bf16"), None, tmp_path)


def test_read_back_before_load_is_unknown_not_the_label():
    executed = OnnxRuntimeBackend().executed_precision()
    assert executed["precision"] is None and "does not read back" in executed["reason"]
