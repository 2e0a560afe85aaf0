"""The environment a run came from: OS, CPU and the ISA features that decide quantized speed."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from devices import fs

# Features that decide how fast int8/fp16 kernels run, by /proc/cpuinfo flag name.
X86_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16")
ARM_FEATURES = ("neon", "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "fphp")

RUNTIME_PACKAGES = ("numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "nncf", "ai-edge-litert",
                    "tflite-runtime", "tensorflow", "onnx2tf", "tensorrt", "nvidia-ml-py")


def cpu_info() -> dict[str, Any]:
    text = fs.read_text("/proc/cpuinfo") or ""
    model = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    isa = [f for f in (*X86_FEATURES, *ARM_FEATURES) if f in flags]
    # Arm kernels name dot-product "asimddp"; users know it as "dotprod".
    if "asimddp" in flags:
        isa.append("dotprod")
    return {"model": model or platform.processor() or None, "isa_features": isa, "logical_cores": os.cpu_count(),
            "precision_features": precision_features(isa, platform.machine())}


# The features that decide which precisions compute natively and fast, by the names users know them by:
# name -> the /proc/cpuinfo flags any one of which provides it.
_X86_PRECISION = {"AVX2": ("avx2",), "AVX-512": ("avx512f",), "VNNI": ("avx512_vnni", "avx_vnni"),
                  "BF16": ("avx512_bf16", "amx_bf16"), "FP16": ("avx512_fp16", "amx_fp16"),
                  "AMX": ("amx_tile",)}
_ARM_PRECISION = {"dotprod": ("asimddp", "dotprod"), "i8mm": ("i8mm",), "bf16": ("bf16",),
                  "fp16": ("asimdhp", "fphp")}


def precision_features(isa: list[str], machine: str | None = None) -> dict[str, Any]:
    """Which precision-deciding features this CPU has, and the precisions it computes natively.

    ``native``: fp32 always; int8 with a fast 8-bit dot product (VNNI, Arm dotprod/i8mm), else int8 runs on
    16-bit multiply-adds (still faster than fp32 only by memory traffic); bf16 and fp16 only with their
    arithmetic (AVX512_BF16/AMX-BF16, AVX512-FP16/AMX-FP16; Arm bf16, asimdhp).
    """
    flags = set(isa)
    arm = bool(flags & {"asimd", "neon"}) or str(machine or "").lower() in ("aarch64", "arm64", "armv7l")
    table = _ARM_PRECISION if arm else _X86_PRECISION
    found = {name: any(f in flags for f in names) for name, names in table.items()}
    native = ["fp32"]
    if found.get("VNNI") or found.get("dotprod") or found.get("i8mm"):
        native.append("int8")
    if found.get("BF16") or found.get("bf16"):
        native.append("bf16")
    if found.get("FP16") or found.get("fp16"):
        native.append("fp16")
    return {"arch": "arm" if arm else "x86", "features": found, "native": native,
            "reason": None if isa else "no ISA flags readable from /proc/cpuinfo"}


def memory_bytes() -> int | None:
    for line in (fs.read_text("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def package_versions(names: tuple[str, ...] = RUNTIME_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@cache
def git_commit(start: str | None = None) -> str | None:
    here = Path(start or __file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def capture_environment(edgebench_version: str | None = None) -> dict[str, Any]:
    uname = platform.uname()
    return {
        "os": _os_name(),
        "kernel": uname.release,
        "machine": uname.machine,
        "hostname": uname.node,
        "cpu": cpu_info(),
        "memory_bytes": memory_bytes(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "edgebench": {"version": edgebench_version, "commit": git_commit()},
    }


def _os_name() -> str:
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except (OSError, AttributeError):  # not Linux, or Python < 3.10
        pretty = ""
    return f"{platform.system()} {pretty}".strip()
