"""Device profiles: how to recognise a device, which backends to try first, which telemetry
samplers to run, and runner defaults that suit it.

``DEVICE=host`` works everywhere; the others are checked against this machine's facts (read through
``devices.fs``, so a fake tree can stand in for ``/``) and a mismatch stops at once with the
evidence. Runner defaults use the keys of the suite's ``runner:`` section; precedence is
profile < suite < command line.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices import coral, fs, jetson, linux, nvml, rpi
from devices.base import Sampler
from devices.meter import ExternalMeterSampler
from devices.rapl import RaplSampler
from devices.tegrastats import TegrastatsSampler


class DeviceError(Exception):
    """The requested device is unknown or is not this machine; the message says what to do."""


def _always() -> tuple[bool, list[str]]:
    return True, ["the host profile runs on any Linux machine, x86 or Arm"]


def _nvidia_gpu() -> tuple[bool, list[str]]:
    infos = fs.glob("/proc/driver/nvidia/gpus/*/information")
    if not infos:
        return False, ["no /proc/driver/nvidia/gpus/* (NVIDIA driver not loaded, or no discrete NVIDIA GPU)"]
    models = []
    for info in infos:
        m = re.search(r"^Model:\s*(.+)$", fs.read_text(fs.device_path(info)) or "", re.M)
        models.append(m.group(1).strip() if m else info.parent.name)
    return True, [f"NVIDIA driver sees: {', '.join(models)}"]


def _generic_samplers() -> list[Sampler]:
    return [linux.ThermalZonesSampler(), linux.CpufreqSampler(), linux.CpuUtilSampler()]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    expected: str  # what recognises it, in words (for errors)
    recognise: Callable[[], tuple[bool, list[str]]]
    backends: tuple[str, ...]  # to try first, in order
    backend_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    runner_defaults: dict[str, Any] = field(default_factory=dict)  # keys of the suite's runner: section
    sampler_factory: Callable[[], list[Sampler]] = _generic_samplers
    options: dict[str, Any] = field(default_factory=dict)  # e.g. power_csv, cooldown_threshold_c

    def samplers(self) -> list[Sampler]:
        """Fresh samplers, best power source first within each group; the external meter is
        always offered (it reports 'not configured' when EDGEBENCH_POWER_CSV is unset)."""
        return [*self.sampler_factory(), ExternalMeterSampler(self.options.get("power_csv"))]

    def matches(self) -> tuple[bool, list[str]]:
        return self.recognise()

    def facts(self) -> dict[str, Any]:
        return machine_facts(self)


def _jetson_samplers() -> list[Sampler]:
    return [jetson.Ina3221Sampler(), TegrastatsSampler(), jetson.SocthermOcSampler(),
            jetson.JetsonPowerModeSampler(), *_generic_samplers()]


def _rpi_samplers() -> list[Sampler]:
    return [rpi.Pi5PmicSampler(), rpi.VcgencmdSampler(), *_generic_samplers()]


def _coral_samplers() -> list[Sampler]:
    return [coral.ApexSampler(), RaplSampler(), rpi.VcgencmdSampler(), *_generic_samplers()]


def _host_samplers() -> list[Sampler]:
    return [RaplSampler(), *_generic_samplers()]


def _gpu_samplers() -> list[Sampler]:
    return [nvml.NvmlSampler(), RaplSampler(), *_generic_samplers()]


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("jetson", "NVIDIA Jetson (Nano, Xavier NX, AGX Xavier, Orin Nano/NX, AGX Orin)",
                "/etc/nv_tegra_release, or a device-tree model naming an NVIDIA Jetson", jetson.is_jetson,
                ("tensorrt", "onnxruntime"),
                # In order of preference: the first execution provider this onnxruntime build has.
                {"onnxruntime": {"provider": ["tensorrt", "cuda", "cpu"]}},
                # INA3221 updates every ~100-200 ms: a window of a few seconds spans enough updates.
                {"warmup": 20, "min_duration_s": 5.0, "cooldown_s": 10.0},
                _jetson_samplers, {"cooldown_threshold_c": 50.0}),
        Profile("rpi", "Raspberry Pi 4 / 5", "a device-tree model (or /proc/cpuinfo Model) starting 'Raspberry Pi'",
                rpi.is_pi, ("onnxruntime", "litert"), {"onnxruntime": {"threads": 4}, "litert": {"threads": 4}},
                # Passively cooled boards heat up across a suite: longer cool-downs keep runs comparable.
                {"warmup": 10, "min_duration_s": 5.0, "cooldown_s": 30.0},
                _rpi_samplers, {"cooldown_threshold_c": 55.0}),
        Profile("coral", "Google Coral Edge TPU (Dev Board, USB or PCIe/M.2 accelerator on a host)",
                "/sys/class/apex/apex_* (PCIe/M.2, Dev Board) or a Coral USB id (1a6e:089a, 18d1:9302)",
                coral.is_coral, ("litert", "onnxruntime"), {"litert": {"delegate": "edgetpu"}},
                {"warmup": 10, "min_duration_s": 3.0, "cooldown_s": 10.0},
                _coral_samplers, {"cooldown_threshold_c": 60.0}),
        Profile("nvidia-gpu", "a machine with an NVIDIA GPU (NVML)",
                "/proc/driver/nvidia/gpus/* (the NVIDIA driver)", _nvidia_gpu,
                ("tensorrt", "onnxruntime", "openvino"),
                {"onnxruntime": {"provider": ["cuda", "cpu"]}},
                # NVML power on Ampere+ is a 1 s average: a window needs ~10 s when the energy counter is absent.
                {"warmup": 20, "min_duration_s": 2.0, "cooldown_s": 5.0},
                _gpu_samplers),
        Profile("host", "any Linux machine (x86 or Arm)", "nothing: it runs everywhere", _always,
                ("onnxruntime", "openvino", "litert"), {}, {"cooldown_s": 0.0}, _host_samplers),
    )
}
DETECT_ORDER = ("jetson", "rpi", "coral", "nvidia-gpu", "host")


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise DeviceError(f"unknown device {name!r}: expected one of {', '.join(PROFILES)}; "
                          "DEVICE=host works everywhere") from None


def detect() -> Profile:
    """The most specific profile this machine matches (host when none does)."""
    for name in DETECT_ORDER:
        if PROFILES[name].matches()[0]:
            return PROFILES[name]
    return PROFILES["host"]  # pragma: no cover - host always matches


def resolve(name: str | None) -> Profile:
    """The profile for ``--device NAME`` (None or "auto": detect). Raises DeviceError at once when
    the device named is not this machine, with what was expected and what was found."""
    if name in (None, "", "auto"):
        return detect()
    profile = get_profile(name)
    ok, evidence = profile.matches()
    if not ok:
        found = detect()
        raise DeviceError(
            f"DEVICE={name} ({profile.description}) was requested but this machine is not one: expected "
            f"{profile.expected}; found: {'; '.join(evidence)} (this machine looks like '{found.name}'). "
            f"Run on the device itself, or use DEVICE={found.name} (DEVICE=host works everywhere).")
    return profile


def machine_facts(profile: Profile | None = None) -> dict[str, Any]:
    """What this machine says about itself; sections for devices that are absent say so."""
    profile = profile or detect()
    cpuinfo = fs.read_text("/proc/cpuinfo") or ""
    cpu_model = re.search(r"^(?:model name|Hardware|Model)\s*:\s*(.+)$", cpuinfo, re.M)
    facts: dict[str, Any] = {
        "profile": profile.name,
        "machine": platform.machine(),
        "board_model": jetson.board_model(),
        "cpu_model": cpu_model.group(1).strip() if cpu_model else None,
        "edge_tpu": coral.edge_tpu_facts(),
    }
    if profile.name == "jetson" or jetson.is_jetson()[0]:
        facts["jetson"] = {"l4t": jetson.l4t_release(), "power_mode": jetson.power_mode(),
                           "jetson_clocks": jetson.clocks_state(), "ina3221": jetson.find_rails()[1]}
    if profile.name == "rpi" or rpi.is_pi()[0]:
        facts["rpi"] = rpi.pi_facts()
    facts["nvml"] = nvml.gpu_facts()
    return facts
