"""Per-operator profiles from each runtime's own profiler, as ``RawProfile``s (not normalised).

The adapters call these from their ``profile()`` hook; the parsing is kept here, apart from the
runtimes, so it can be tested on captured output. Sources:

- ONNX Runtime: the Chrome-trace JSON that ``SessionOptions.enable_profiling`` writes (one event per
  node run, ``cat == "Node"``, ``dur`` in microseconds, ``args.op_name`` / ``args.provider``; one
  ``model_run`` session event per ``run()``).
- OpenVINO: ``InferRequest.get_profiling_info()`` (compiled with ``PERF_COUNT``; per node of the
  runtime graph: ``node_type``, ``exec_type``, ``real_time`` of the last inference) and the runtime
  model's per-node ``rt_info`` (``originalLayersNames``, ``runtimePrecision``, ``layerType``).
- LiteRT: the text TFLite's ``benchmark_model --enable_op_profiling=true`` prints (the ``Run Order``
  table under "Operator-wise Profiling Info for Regular Benchmark Runs"; columns named in its header,
  as ``tensorflow/lite/profiling/profile_summary_formatter`` and the stats calculator write them).
- TensorRT: an ``IProfiler`` whose ``report_layer_time(name, ms)`` is called per layer and inference,
  plus ``IEngineInspector``'s JSON layer information (precision, tactic, origin) when the engine was
  built with detailed profiling verbosity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backends.base import ProfileNode, RawProfile

# -- ONNX Runtime -------------------------------------------------------------------------------------

_ORT_PRECISION = {"int8": "int8", "uint8": "int8", "float16": "fp16", "bfloat16": "bf16", "float": "fp32",
                  "double": "fp64", "int4": "int4", "uint4": "int4"}


def _ort_precision(args: Mapping[str, Any]) -> str | None:
    """The narrowest numeric type among a node's inputs: what its kernel computes in."""
    types = []
    for item in args.get("input_type_shape") or []:
        if isinstance(item, Mapping):
            types += [_ORT_PRECISION[t] for t in item if t in _ORT_PRECISION]
    for wanted in ("int4", "int8", "fp16", "bf16", "fp32", "fp64"):
        if wanted in types:
            return wanted
    return None


def parse_ort_trace(events: Sequence[Mapping[str, Any]], skip_runs: int = 1) -> RawProfile:
    """ORT's profile JSON → per-node totals over the ``run()`` calls after the first ``skip_runs``.

    The first run of a fresh session allocates and tunes; it is dropped (the harness makes one extra)."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    kept = runs[skip_runs:]
    windows = [(int(e["ts"]), int(e["ts"]) + int(e["dur"])) for e in kept]
    nodes: dict[str, ProfileNode] = {}
    providers: set[str] = set()
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        ts = int(e.get("ts", -1))
        if windows and not any(lo <= ts <= hi for lo, hi in windows):
            continue
        args = e.get("args") or {}
        name = str(e["name"])[: -len("_kernel_time")]
        provider = str(args.get("provider") or "")
        providers.add(provider)
        node = nodes.get(name)
        if node is None:
            node = nodes[name] = ProfileNode(name=name, op_type=str(args.get("op_name") or "?"), time_ms=0.0,
                                             executed_precision=_ort_precision(args),
                                             details={"provider": provider})
        node.time_ms += float(e.get("dur", 0)) / 1000.0
        node.calls += 1
    notes = []
    collapsed = sorted(p for p in providers if p and p not in ("CPUExecutionProvider", "CUDAExecutionProvider"))
    for p in collapsed:
        notes.append(f"{p} runs its part of the graph as fused subgraph nodes: ONNX Runtime's profile cannot "
                     "split their time per operator")
    total = sum(float(e["dur"]) for e in kept) / 1000.0 if kept else None
    return RawProfile(source="onnxruntime SessionOptions.enable_profiling", iterations=len(kept),
                      nodes=list(nodes.values()), notes=notes, total_ms=total)


def load_ort_trace(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        data = json.load(f)
    # Older releases wrap the events in {"traceEvents": [...]}.
    return list(data.get("traceEvents", [])) if isinstance(data, dict) else list(data)


# -- OpenVINO -----------------------------------------------------------------------------------------

_OV_PRECISION = {"f32": "fp32", "f16": "fp16", "bf16": "bf16", "i8": "int8", "u8": "int8", "i4": "int4",
                 "u4": "int4", "i32": "int32", "i64": "int64", "u1": "binary"}


def ov_precision(text: str | None) -> str | None:
    if not text:
        return None
    return _OV_PRECISION.get(str(text).lower().strip(), str(text).lower().strip())


class OpenVINOAccumulator:
    """Sums ``get_profiling_info()`` over inferences (it reports only the last one)."""

    def __init__(self) -> None:
        self.nodes: dict[str, ProfileNode] = {}
        self.iterations = 0

    def add(self, infos: Iterable[Any]) -> None:
        self.iterations += 1
        for info in infos:
            status = str(getattr(info, "status", ""))
            if "EXECUTED" not in status or "NOT_RUN" in status:
                continue
            real_ms = _seconds(getattr(info, "real_time", 0.0)) * 1000.0
            node = self.nodes.get(info.node_name)
            if node is None:
                node = self.nodes[info.node_name] = ProfileNode(
                    name=str(info.node_name), op_type=str(info.node_type), time_ms=0.0,
                    details={"exec_type": str(info.exec_type)})
            node.time_ms += real_ms
            node.calls += 1

    def finish(self, runtime_ops: Iterable[tuple[str, Mapping[str, str]]],
               notes: list[str] | None = None) -> RawProfile:
        """Join the runtime model's per-node facts (original names, precision) onto the timed nodes."""
        facts = dict(runtime_ops)
        for name, node in self.nodes.items():
            info = facts.get(name) or {}
            original = [n for n in str(info.get("originalLayersNames") or "").split(",") if n]
            node.source_nodes = tuple(original)
            node.executed_precision = ov_precision(info.get("runtimePrecision")) or _exec_type_precision(
                str(node.details.get("exec_type", "")))
            if info.get("layerType"):
                node.details = {**node.details, "layer_type": info["layerType"]}
        return RawProfile(source="openvino PERF_COUNT get_profiling_info + runtime model rt_info",
                          iterations=self.iterations, nodes=list(self.nodes.values()), notes=list(notes or []))


def _seconds(value: Any) -> float:
    """``real_time`` is a datetime.timedelta in the Python API; plain numbers are taken as seconds."""
    if hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    return float(value or 0.0)


def _exec_type_precision(exec_type: str) -> str | None:
    """'brgconv_avx512_bf16' → bf16; 'jit_avx2_I8' → int8; None when the kernel name says nothing."""
    last = exec_type.rsplit("_", 1)[-1].lower() if "_" in exec_type else ""
    return _OV_PRECISION.get(last)


def ov_runtime_facts(compiled: Any) -> list[tuple[str, dict[str, str]]]:
    """(friendly name, rt_info as strings) for every node of the compiled model's runtime graph."""
    out = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        facts = {}
        for key in ("originalLayersNames", "runtimePrecision", "layerType", "primitiveType"):
            if key in info:
                value = info[key]
                facts[key] = value.astype(str) if hasattr(value, "astype") else str(value)
        out.append((op.get_friendly_name(), facts))
    return out


# -- LiteRT / TFLite benchmark_model -------------------------------------------------------------------

_REGULAR = "Operator-wise Profiling Info for Regular Benchmark Runs"
_RUN_ORDER = "Run Order"
_HEADER_COLUMN = re.compile(r"\[([^\]]+)\]")
# XNNPACK kernel names carry the datatype: "Convolution (NHWC, QU8) IGEMM", "Add (ND, F32)".
_XNN_TYPE = re.compile(r"\(([^)]*)\)")
_XNN_PRECISION = {"QU8": "int8", "QS8": "int8", "QC8": "int8", "QD8": "int8", "QP8": "int8", "F32": "fp32",
                  "F16": "fp16", "BF16": "bf16", "X8": None, "X16": None, "X32": None}
_DELEGATE_TYPES = ("TfLiteXNNPackDelegate", "TfLiteGpuDelegate", "EdgeTpuDelegateForCustomOp", "DELEGATE",
                   "TfLiteNnapiDelegate", "TfLiteHexagonDelegate", "TfLiteCoreMlDelegate")


def _strip_log_prefix(line: str) -> str:
    line = line.rstrip("\n")
    line = re.sub(r"^\s*(INFO|WARNING|ERROR):\s?", "", line.strip("\t "))
    return line


def _litert_precision(node_type: str) -> str | None:
    found = _XNN_TYPE.search(node_type)
    if not found:
        return None
    for part in found.group(1).replace(" ", "").split(","):
        if part in _XNN_PRECISION:
            return _XNN_PRECISION[part]
    return None


def _litert_name(raw: str) -> str:
    """'[dense_3/BiasAdd]:0' → 'dense_3/BiasAdd'; 'Delegate/Add (ND, QU8):9' → 'Delegate/Add (ND, QU8):9'."""
    m = re.fullmatch(r"\[(.*)\](?::\d+)?", raw.strip())
    return m.group(1) if m else raw.strip()


def parse_benchmark_model_output(text: str) -> RawProfile:
    """The regular-runs ``Run Order`` table of ``benchmark_model --enable_op_profiling=true`` → a profile.

    ``[avg ms]`` is per inference, so ``time_ms`` here is that average (``iterations`` = 1). A row of a
    delegate kernel that holds several ops (e.g. ``TfLiteXNNPackDelegate`` when the delegate does not
    report per op) cannot be split: its share is stated as one note."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _REGULAR in line), None)
    if start is None:
        # Some builds print only the tables; the last Run Order table is the regular runs'.
        orders = [i for i, line in enumerate(lines) if _RUN_ORDER in line and "=====" in line]
        if not orders:
            return RawProfile.unavailable("litert benchmark_model --enable_op_profiling",
                                          "no 'Run Order' table in the benchmark_model output: was it run with "
                                          "--enable_op_profiling=true?")
        start = orders[-1] - 1
    header_at = next((i for i in range(start + 1, len(lines)) if "[node type]" in lines[i].lower()), None)
    if header_at is None:
        return RawProfile.unavailable("litert benchmark_model --enable_op_profiling",
                                      "the Run Order table has no [node type] header line")
    columns = [c.strip().lower() for c in _HEADER_COLUMN.findall(lines[header_at])]
    numeric = [c for c in columns if c not in ("node type", "name")]
    row_re = re.compile(r"^(?P<type>.+?)\s+" + r"\s+".join(rf"(?P<c{i}>-?[\d.]+%?)" for i in range(len(numeric)))
                        + r"\s+(?P<name>\S.*)$")
    nodes: list[ProfileNode] = []
    for raw in lines[header_at + 1:]:
        line = _strip_log_prefix(raw)
        if not line.strip() or line.startswith("====="):
            break
        m = row_re.match(line.strip())
        if not m:
            break
        values = {col: m.group(f"c{i}") for i, col in enumerate(numeric)}
        node_type = m.group("type").strip()
        avg_ms = float(values.get("avg ms", "0").rstrip("%"))
        times = values.get("times called")
        nodes.append(ProfileNode(name=_litert_name(m.group("name")), op_type=node_type, time_ms=avg_ms,
                                 executed_precision=_litert_precision(node_type),
                                 calls=int(float(times)) if times else 0,
                                 details={"first_ms": float(values["first"]) if "first" in values else None}))
    if not nodes:
        return RawProfile.unavailable("litert benchmark_model --enable_op_profiling",
                                      "the Run Order table of the regular runs has no rows")
    notes = []
    total = sum(n.time_ms for n in nodes)
    for n in nodes:
        if n.op_type in _DELEGATE_TYPES and total > 0:
            notes.append(f"{n.op_type} ran as one node ({n.name}): its {100.0 * n.time_ms / total:.1f}% of the "
                         "time cannot be split per operator")
    avg = re.search(r"Inference \(avg\):\s*([\d.]+)", text)
    return RawProfile(source="litert benchmark_model --enable_op_profiling", iterations=1, nodes=nodes,
                      notes=notes, total_ms=float(avg.group(1)) / 1000.0 if avg else None)


# -- TensorRT -----------------------------------------------------------------------------------------

# Matched in this order on the inspector's "Format/Datatype" text ("Channel major FP16 format ...",
# "Int8 NC/32HW32", "BFloat16 row major linear", "Row major linear FP32").
_TRT_PRECISION = {"bfloat16": "bf16", "bf16": "bf16", "fp16": "fp16", "half": "fp16", "int8": "int8", "fp8": "fp8",
                  "int4": "int4", "int32": "int32", "fp32": "fp32", "float": "fp32", "bool": None}


def trt_layer_facts(inspector_json: str | None) -> dict[str, dict[str, Any]]:
    """Layer name → {type, precision, tactic, origin} from ``IEngineInspector.get_engine_information``.

    With ``ProfilingVerbosity.DETAILED`` each layer is a dict (``Name``, ``LayerType``, ``Inputs`` /
    ``Outputs`` with ``Format/Datatype``, ``TacticName``, ``Metadata`` naming the ONNX nodes); with less
    verbosity layers are bare names and only the names are known."""
    if not inspector_json:
        return {}
    try:
        data = json.loads(inspector_json)
    except ValueError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for layer in data.get("Layers", []):
        if not isinstance(layer, Mapping):
            out[str(layer)] = {}
            continue
        precision = None
        for port in list(layer.get("Outputs") or []) + list(layer.get("Inputs") or []):
            fmt = str(port.get("Format/Datatype") or "")
            found = next((p for k, p in _TRT_PRECISION.items() if re.search(rf"\b{k}\b", fmt, re.IGNORECASE)), None)
            if found:
                precision = found
                break
        metadata = str(layer.get("Metadata") or "")
        # The ONNX parser writes "[ONNX Layer: name]" per source node into the layer metadata.
        origin = re.findall(r"\[ONNX Layer: ([^\]]+)\]", metadata)
        out[str(layer.get("Name"))] = {"type": layer.get("LayerType"), "precision": precision,
                                       "tactic": layer.get("TacticName") or layer.get("TacticValue"),
                                       "origin": origin}
    return out


def trt_profile(times_ms: Mapping[str, list[float]], facts: Mapping[str, Mapping[str, Any]],
                iterations: int, notes: list[str] | None = None) -> RawProfile:
    """IProfiler's per-layer times (one list entry per inference) joined with the inspector's facts."""
    nodes = []
    for name, values in times_ms.items():
        info = facts.get(name) or {}
        nodes.append(ProfileNode(name=name, op_type=str(info.get("type") or _trt_guess_type(name)),
                                 time_ms=float(sum(values)), source_nodes=tuple(info.get("origin") or ()),
                                 executed_precision=info.get("precision"), calls=len(values),
                                 details={"tactic": info.get("tactic")} if info.get("tactic") else {}))
    return RawProfile(source="tensorrt IProfiler + IEngineInspector", iterations=iterations, nodes=nodes,
                      notes=list(notes or []))


def _trt_guess_type(name: str) -> str:
    """Layer type from the name when the inspector said nothing: TensorRT names reformat layers so."""
    lowered = name.lower()
    if "reformat" in lowered:
        return "Reformat"
    if "quantize" in lowered:
        return "Quantize" if "dequantize" not in lowered else "Dequantize"
    return "Layer"
