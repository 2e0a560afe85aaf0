"""NVIDIA GPUs through NVML (package ``nvidia-ml-py``, module ``pynvml``, imported lazily).

Energy: the total-energy counter (mJ since driver load, Volta and newer, ~100 ms updates) when every
GPU supports it; otherwise power sampling (on Ampere and newer ``nvmlDeviceGetPowerUsage`` is a 1 s
average, so short transients are smoothed: the update period is taken as 1 s). Calls that raise
NVMLError_NotSupported (older GPUs, Jetson iGPUs) mean "unavailable", not zero.
"""

from __future__ import annotations

from typing import Any

from devices.polling import PollingSampler, SensorError

# Clock-event (throttle) reasons that mean the GPU was held below its clocks; 0x1 (idle) is not one.
CLOCK_EVENT_REASONS = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
                       0x40: "hardware thermal slowdown", 0x80: "hardware power brake slowdown"}


def _pynvml() -> Any:
    try:
        import pynvml
    except ImportError as exc:
        raise SensorError("pynvml not installed (pip install nvidia-ml-py, extra 'nvml')") from exc
    return pynvml


def _init() -> Any:
    nv = _pynvml()
    try:
        nv.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded...
        raise SensorError(f"NVML could not start: {exc} (no NVIDIA driver?)") from exc
    return nv


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def gpu_facts() -> dict[str, Any]:
    """GPUs NVML sees, or the reason it sees none."""
    try:
        nv = _init()
        gpus = []
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            gpu: dict[str, Any] = {"index": i, "name": _text(nv.nvmlDeviceGetName(h))}
            try:
                gpu["memory_total_bytes"] = int(nv.nvmlDeviceGetMemoryInfo(h).total)
            except Exception:
                gpu["memory_total_bytes"] = None
            gpus.append(gpu)
        try:
            driver = _text(nv.nvmlSystemGetDriverVersion())
        except Exception:
            driver = None
        return {"gpus": gpus, "driver": driver}
    except SensorError as exc:
        return {"gpus": [], "reason": str(exc)}
    except Exception as exc:
        return {"gpus": [], "reason": f"NVML query failed: {exc}"}


def clock_event_evidence(reasons: list[int], gpu: str) -> list[str]:
    seen = 0
    for r in reasons:
        seen |= int(r)
    return [f"NVML {gpu}: clock-event reason '{name}' (0x{bit:x}) during the run"
            for bit, name in CLOCK_EVENT_REASONS.items() if seen & bit]


class NvmlSampler(PollingSampler):
    name = "nvml"
    thermal = True
    power_group = "gpu"
    scope = "NVIDIA GPU board power (NVML): excludes the CPU and the rest of the machine"
    interval_s = 0.1

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.handles: list[Any] = []
        self.use_counter = False
        self.nv: Any = None

    def probe(self) -> str | None:
        try:
            self.nv = nv = _init()
            self.handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
        except SensorError as exc:
            return str(exc)
        if not self.handles:
            return "NVML sees no GPU"
        self.use_counter = all(self._try(nv.nvmlDeviceGetTotalEnergyConsumption, h) is not None
                               for h in self.handles)
        if not self.use_counter and any(self._try(nv.nvmlDeviceGetPowerUsage, h) is None for h in self.handles):
            return "NVML supports neither the energy counter nor power readings on this GPU (NotSupported)"
        self.update_period_s = 0.1 if self.use_counter else 1.0
        return None

    @staticmethod
    def _try(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # NVMLError_NotSupported and friends: unavailable, not zero
            return None

    def read(self) -> dict[str, float]:
        nv = self.nv
        values: dict[str, float] = {}
        total_w = 0.0
        for i, h in enumerate(self.handles):
            g = f"gpu{i}"
            if self.use_counter:
                e = self._try(nv.nvmlDeviceGetTotalEnergyConsumption, h)
                if e is None:
                    raise SensorError(f"{g}: energy counter read failed")
                values[f"energy_mj:{g}"] = float(e)
            else:
                p = self._try(nv.nvmlDeviceGetPowerUsage, h)
                if p is None:
                    raise SensorError(f"{g}: power read failed")
                values[f"power_w:{g}"] = p / 1000
                total_w += p / 1000
            mem = self._try(nv.nvmlDeviceGetMemoryInfo, h)
            if mem is not None:
                values[f"mem_used_bytes:{g}"] = float(mem.used)
            sm = self._try(nv.nvmlDeviceGetClockInfo, h, getattr(nv, "NVML_CLOCK_SM", 1))
            if sm is not None:
                values[f"freq_hz:sm_{g}"] = float(sm) * 1e6
            temp = self._try(nv.nvmlDeviceGetTemperature, h, getattr(nv, "NVML_TEMPERATURE_GPU", 0))
            if temp is not None:
                values[f"temp_c:{g}"] = float(temp)
            fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
                nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
            reasons = self._try(fn, h) if fn else None
            if reasons is not None:
                values[f"clock_event_reasons:{g}"] = float(reasons)
        if not self.use_counter:
            values["power_w"] = total_w
        return values

    def meta(self) -> dict[str, object]:
        if self.use_counter:
            return {"counters": {f"energy_mj:gpu{i}": {"to_j": 1e-3, "max_range": None}
                                 for i in range(len(self.handles))}}
        return {}
