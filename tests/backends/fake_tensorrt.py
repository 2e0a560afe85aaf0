"""A FAKE of the slice of the TensorRT Python API (10.x names) and a FAKE CUDA runtime that the
TensorRT adapter uses, for machines without TensorRT or a GPU.

They exercise the adapter's own flow (build → engine cache → deserialize → device buffers →
enqueue between events → outputs; calibrator pulls; parser errors) and nothing about TensorRT
itself: the "engine" runs the ONNX model with onnxruntime in fp32, and "device memory" is a dict
of bytearrays. Passing tests here say the glue is consistent, not that the real API agrees.
"""

from __future__ import annotations

import enum
import json
import types
from typing import Any

import numpy as np

FAKE_VERSION = "10.3.0"
FAKE_ACTIVATION_BYTES = 4096
UNSUPPORTED_OP = "FakeUnsupportedOp"


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = Severity

    def __init__(self) -> None:
        pass


class IInt8EntropyCalibrator2:
    def __init__(self) -> None:
        pass


class IProfiler:
    def __init__(self) -> None:
        pass



class TensorIOMode(enum.Enum):
    INPUT = 1
    OUTPUT = 2


class FakeState:
    """What the fake saw, for the tests to check."""

    def __init__(self) -> None:
        self.builds: list[dict[str, Any]] = []
        self.calibration_batches = 0
        self.clock_ms = 0.0
        self.layer_datatype: str | None = None  # None: what the build flags imply
        self.profiling_verbosity: Any = None


STATE = FakeState()


class _Input:
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name, self.shape, self.dtype = name, shape, "float32"


class Network:
    def __init__(self) -> None:
        self.inputs: list[_Input] = []
        self.onnx_path: str | None = None

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, i: int) -> _Input:
        return self.inputs[i]


class _ParserError:
    def __init__(self, index: int, name: str, op: str) -> None:
        self.index, self.name, self.op = index, name, op

    def code(self) -> str:
        return "UNSUPPORTED_NODE"

    def desc(self) -> str:
        return f"No importer registered for op: {self.op}"

    def node(self) -> int:
        return self.index


class OnnxParser:
    def __init__(self, network: Network, logger: Any) -> None:
        self.network, self.errors = network, []

    def parse_from_file(self, path: str) -> bool:
        import onnx

        model = onnx.load(path)
        self.errors = [_ParserError(i, n.name, n.op_type) for i, n in enumerate(model.graph.node)
                       if n.op_type == UNSUPPORTED_OP]
        inits = {i.name for i in model.graph.initializer}
        for v in model.graph.input:
            if v.name not in inits:
                dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim)
                self.network.inputs.append(_Input(v.name, dims))
        self.network.onnx_path = path
        return not self.errors

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> _ParserError:
        return self.errors[i]


class _TimingCache:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def serialize(self) -> bytes:
        return self.data or b"fake-timing-cache"


class BuilderConfig:
    def __init__(self) -> None:
        self.flags: set[str] = set()
        self.pools: dict[str, int] = {}
        self.int8_calibrator = None
        self.default_device_type = "GPU"
        self.DLA_core = -1
        self.profiles: list[Any] = []
        self.timing_cache: _TimingCache | None = None
        self.profiling_verbosity: Any = "LAYER_NAMES_ONLY"

    def set_flag(self, flag: str) -> None:
        self.flags.add(flag)

    def clear_flag(self, flag: str) -> None:
        self.flags.discard(flag)

    def set_memory_pool_limit(self, pool: str, limit: int) -> None:
        self.pools[pool] = limit

    def add_optimization_profile(self, profile: Any) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile: Any) -> None:
        pass

    def create_timing_cache(self, data: bytes) -> _TimingCache:
        return _TimingCache(bytes(data))

    def set_timing_cache(self, cache: _TimingCache, ignore_mismatch: bool) -> bool:
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> _TimingCache:
        return self.timing_cache


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple] = {}

    def set_shape(self, name: str, lo: tuple, opt: tuple, hi: tuple) -> None:
        self.shapes[name] = (lo, opt, hi)


class Builder:
    num_DLA_cores = 0

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def create_network(self, flags: int) -> Network:
        return Network()

    def create_builder_config(self) -> BuilderConfig:
        return BuilderConfig()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes:
        calib = config.int8_calibrator
        if calib is not None and calib.read_calibration_cache() is None:  # as TensorRT: the cache skips calibration
            names = [i.name for i in network.inputs]
            while (ptrs := calib.get_batch(names)) is not None:
                assert len(ptrs) == len(names) and all(isinstance(p, int) for p in ptrs)
                STATE.calibration_batches += 1
            calib.write_calibration_cache(b"fake-calibration-table")
        STATE.builds.append({"flags": sorted(config.flags), "pools": dict(config.pools),
                             "device": config.default_device_type})
        STATE.profiling_verbosity = getattr(config, "profiling_verbosity", None)
        detailed = STATE.profiling_verbosity == "DETAILED"
        return json.dumps({"onnx": network.onnx_path, "flags": sorted(config.flags), "detailed": detailed}).encode()


class _Context:
    def __init__(self, engine: Engine) -> None:
        self.engine, self.addresses = engine, {}
        self.profiler: Any = None

    def set_input_shape(self, name: str, shape: tuple) -> bool:
        return True

    def get_tensor_shape(self, name: str) -> tuple:
        return self.engine.get_tensor_shape(name)

    def set_tensor_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = ptr

    def execute_async_v3(self, stream: int) -> bool:
        memory = FakeCuda.memory
        feeds = {}
        for i in self.engine.session.get_inputs():
            shape = self.engine.get_tensor_shape(i.name)
            feeds[i.name] = np.frombuffer(bytes(memory[self.addresses[i.name]]), np.float32,
                                          int(np.prod(shape))).reshape(shape)
        results = self.engine.session.run(None, feeds)
        for o, r in zip(self.engine.session.get_outputs(), results):
            data = np.ascontiguousarray(r, np.float32).tobytes()
            memory[self.addresses[o.name]][: len(data)] = data
        STATE.clock_ms += 1.5  # the "device" time this enqueue took
        if self.profiler is not None:  # as TensorRT: every layer's time of this enqueue, in layer order
            for i, (name, _, _) in enumerate(self.engine.layers()):
                self.profiler.report_layer_time(name, 0.1 * (i + 1))
        return True


class Engine:
    device_memory_size_v2 = FAKE_ACTIVATION_BYTES

    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        self.meta = json.loads(data)
        self.session = ort.InferenceSession(self.meta["onnx"], providers=["CPUExecutionProvider"])
        self.io = [(i.name, TensorIOMode.INPUT, tuple(i.shape)) for i in self.session.get_inputs()]
        self.io += [(o.name, TensorIOMode.OUTPUT, tuple(o.shape)) for o in self.session.get_outputs()]

    @property
    def num_io_tensors(self) -> int:
        return len(self.io)

    def get_tensor_name(self, i: int) -> str:
        return self.io[i][0]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return next(m for n, m, _ in self.io if n == name)

    def get_tensor_dtype(self, name: str) -> str:
        return "float32"

    def get_tensor_shape(self, name: str) -> tuple:
        return next(s for n, _, s in self.io if n == name)

    def create_execution_context(self) -> _Context:
        return _Context(self)

    def layers(self) -> list[tuple[str, str, list[str]]]:
        """(layer name, type, ONNX nodes) as a FAKE engine: one layer per ONNX node, behind an input reformat."""
        import onnx

        nodes = onnx.load(self.meta["onnx"]).graph.node
        first = nodes[0].name if nodes else "?"
        return [(f"Reformatting CopyNode for Input Tensor 0 to {first}", "Reformat", [])] + [
            (n.name, n.op_type, [n.name]) for n in nodes]

    def create_engine_inspector(self) -> _Inspector:
        return _Inspector(self)


# What a FAKE engine says each layer runs in, by the widest builder flag it was built with; a test may
# override it (STATE.layer_datatype) to play a GPU whose tactics fall back to another type.
_FLAG_DATATYPE = (("INT8", "Int8 NC/32HW32"), ("BF16", "BFloat16 row major linear"),
                  ("FP16", "Channel major FP16 format where channel % 8 == 0"))


class _Inspector:
    """IEngineInspector's JSON: full layer facts (type, datatype, tactic, ONNX origin) only when the engine was
    built with DETAILED verbosity; layer names alone otherwise."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_engine_information(self, fmt: str) -> str:
        assert fmt == "JSON"
        meta = self.engine.meta
        layers = self.engine.layers()
        if not meta.get("detailed"):
            return json.dumps({"Layers": [name for name, _, _ in layers]})
        kind = STATE.layer_datatype or next((d for f, d in _FLAG_DATATYPE if f in meta.get("flags", [])),
                                            "Row major linear FP32")
        return json.dumps({"Layers": [
            {"Name": name, "LayerType": "CaskConvolution" if op == "Conv" else op,
             "Outputs": [{"Name": f"t{i}", "Format/Datatype": kind}], "TacticName": "fake_tactic_0x1",
             "Metadata": "".join(f"[ONNX Layer: {o}]" for o in origin)}
            for i, (name, op, origin) in enumerate(layers)]})


class Runtime:
    def __init__(self, logger: Any) -> None:
        self.DLA_core = -1

    def deserialize_cuda_engine(self, data: bytes) -> Engine:
        return Engine(data)


def nptype(dtype: str) -> type:
    return np.dtype(dtype).type


def module() -> types.ModuleType:
    """A fresh fake ``tensorrt`` module (state reset)."""
    global STATE
    STATE = FakeState()
    FakeCuda.memory = {}
    fake = types.ModuleType("tensorrt")
    fake.__version__ = FAKE_VERSION
    for name in ("ILogger", "IInt8EntropyCalibrator2", "IProfiler", "TensorIOMode", "OnnxParser", "Builder", "Runtime",
                 "nptype"):
        setattr(fake, name, globals()[name])
    fake.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    fake.BuilderFlag = types.SimpleNamespace(**{n: n for n in ("FP16", "BF16", "INT8", "GPU_FALLBACK", "TF32")})
    fake.ProfilingVerbosity = types.SimpleNamespace(DETAILED="DETAILED", LAYER_NAMES_ONLY="LAYER_NAMES_ONLY")
    fake.LayerInformationFormat = types.SimpleNamespace(JSON="JSON", ONELINE="ONELINE")
    fake.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    fake.DeviceType = types.SimpleNamespace(GPU="GPU", DLA="DLA")
    fake.state = lambda: STATE
    return fake


class _Event:
    t_ms: float | None = None


class FakeCuda:
    """A FAKE CUDA runtime: device memory is a dict of bytearrays; events read the fake clock."""

    name = "fake-cuda"
    memory: dict[int, bytearray] = {}

    def __init__(self, gpu: str = "Fake Orin", cc: tuple[int, int] = (8, 7)) -> None:
        self.gpu, self.cc, self._next = gpu, cc, 0x1000

    def device_count(self) -> int:
        return 1

    def device_info(self, index: int = 0) -> tuple[str, tuple[int, int]]:
        return self.gpu, self.cc

    def alloc(self, nbytes: int) -> int:
        ptr, self._next = self._next, self._next + max(nbytes, 1) + 256
        FakeCuda.memory[ptr] = bytearray(max(nbytes, 1))
        return ptr

    def free(self, ptr: int) -> None:
        del FakeCuda.memory[ptr]

    def stream(self) -> object:
        return object()

    def stream_handle(self, stream: Any) -> int:
        return id(stream)

    def destroy_stream(self, stream: Any) -> None:
        pass

    def h2d(self, ptr: int, host: np.ndarray, stream: Any) -> None:
        FakeCuda.memory[ptr][: host.nbytes] = host.tobytes()

    def d2h(self, host: np.ndarray, ptr: int, stream: Any) -> None:
        host.reshape(-1).view(np.uint8)[:] = np.frombuffer(bytes(FakeCuda.memory[ptr][: host.nbytes]), np.uint8)

    def event(self) -> _Event:
        return _Event()

    def record(self, event: _Event, stream: Any) -> None:
        event.t_ms = STATE.clock_ms

    def elapsed_ms(self, start: _Event, end: _Event) -> float:
        return end.t_ms - start.t_ms

    def destroy_event(self, event: Any) -> None:
        pass

    def synchronize(self, stream: Any) -> None:
        pass

    def memory_used_bytes(self) -> int:
        return sum(len(b) for b in FakeCuda.memory.values())
