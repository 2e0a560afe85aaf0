"""Google Coral: Edge TPU temperature and throttle trip points (PCIe/M.2 and the Dev Board).

The USB Accelerator has no sysfs entry (only its USB ids) and no Coral product has a power sensor:
an inline USB meter (``EDGEBENCH_POWER_CSV``) is the usual answer for energy.
"""

from __future__ import annotations

from typing import Any

from devices import fs
from devices.polling import PollingSampler

# USB ids of the USB Accelerator: before its firmware is loaded, and after.
USB_IDS = {("1a6e", "089a"): "Coral USB Accelerator (firmware not loaded)",
           ("18d1", "9302"): "Coral USB Accelerator"}


def apex_devices() -> list[str]:
    return [fs.device_path(p) for p in fs.glob("/sys/class/apex/apex_*")]


def trip_points_c(apex: str) -> list[float]:
    out = []
    for n in range(8):
        v = fs.read_number(f"{apex}/trip_point{n}_temp")
        if v is None:
            break
        out.append(v / 1000)
    return out


def usb_accelerators() -> list[str]:
    found = []
    for dev in fs.glob("/sys/bus/usb/devices/*"):
        vid = (fs.read_text(fs.device_path(dev / "idVendor")) or "").strip().lower()
        pid = (fs.read_text(fs.device_path(dev / "idProduct")) or "").strip().lower()
        if (vid, pid) in USB_IDS:
            found.append(f"{USB_IDS[(vid, pid)]} ({vid}:{pid}) at {fs.device_path(dev)}")
    return found


def edge_tpu_facts() -> dict[str, Any]:
    apex = apex_devices()
    return {"present": bool(apex) or bool(usb_accelerators()),
            "pcie": [{"device": a, "temp_c": _temp(a), "trip_points_c": trip_points_c(a)} for a in apex],
            "usb": usb_accelerators()}


def _temp(apex: str) -> float | None:
    v = fs.read_number(f"{apex}/temp")
    return None if v is None else v / 1000


def is_coral() -> tuple[bool, list[str]]:
    evidence = []
    apex = apex_devices()
    usb = usb_accelerators()
    model = (fs.read_text("/proc/device-tree/model") or "").replace("\x00", "").strip()
    dev_board = "coral" in model.lower() or "phanbell" in model.lower()
    evidence.append(f"Edge TPU PCIe devices: {', '.join(apex)}" if apex else "no /sys/class/apex/apex_*")
    evidence.append(f"USB: {'; '.join(usb)}" if usb else "no Coral USB ids (1a6e:089a, 18d1:9302) on the USB bus")
    if model:
        evidence.append(f"device-tree model: {model!r}")
    return bool(apex or usb or dev_board), evidence


class ApexSampler(PollingSampler):
    """Edge TPU temperature (m°C in 0.25 °C steps) and its throttle trip points."""

    name = "coral_apex"
    thermal = True
    interval_s = 1.0

    def probe(self) -> str | None:
        self.devices = apex_devices()
        if not self.devices:
            return ("no /sys/class/apex/apex_* (no PCIe/M.2 Edge TPU or Dev Board; the USB Accelerator has no "
                    "temperature sensor)")
        return None if self.read() else "apex temp files not readable"

    def read(self) -> dict[str, float]:
        values = {}
        for a in self.devices:
            t = _temp(a)
            if t is not None:
                values[f"temp_c:{a.rsplit('/', 1)[-1]}"] = t
        return values

    def meta(self) -> dict[str, object]:
        return {"trip_points_c": {a.rsplit("/", 1)[-1]: trip_points_c(a) for a in getattr(self, "devices", [])}}
