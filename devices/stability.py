"""How steady this machine is for timing: what would move a benchmark's numbers between runs.

Readers (every file through ``devices.fs``, so tests point ``EDGEBENCH_FS_ROOT`` at a fake tree):

- CPU frequency governor per core and turbo/boost state (``cpufreq/boost``, ``intel_pstate/no_turbo``),
- load average (``/proc/loadavg``) and the other processes busy on a CPU (``/proc/PID/stat`` sampled twice),
- hypervisor steal time from ``/proc/stat`` over a window (``StabilityTracker``: start/stop, like a sampler).

``check()`` turns these into findings, each with the fix in words (``edgebench doctor`` lists them);
``wait_for_quiet()`` waits, bounded, until no other process is busy and steal is low (``make bench``).
A figure this machine cannot give is None with the reason, never 0.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from devices import fs

STEAL_WARN_PCT = 2.0  # hypervisor steal above this over a window moves latency by about as much
BUSY_PROCESS_PCT = 10.0  # another process using more than this share of one core competes for the CPU
LOAD_PER_CORE_WARN = 0.7  # 1-minute load per core above this at the start: the machine is not idle
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Finding:
    """One thing that makes numbers unreliable here, and what to do about it."""

    what: str
    severity: str  # "warn" | "info"
    detail: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- readers ------------------------------------------------------------------------------------

def governors() -> dict[str, str]:
    """CPU -> frequency governor (empty when cpufreq is not exposed, as on many VMs)."""
    out = {}
    for p in fs.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"):
        text = fs.read_text(fs.device_path(p))
        if text:
            out[p.parent.parent.name] = text.strip()
    return out


def boost() -> dict[str, Any]:
    """Turbo/boost state: ``enabled`` True/False, or None with the reason when no interface says."""
    value = fs.read_number("/sys/devices/system/cpu/cpufreq/boost")
    if value is not None:
        return {"enabled": bool(value), "source": "/sys/devices/system/cpu/cpufreq/boost"}
    no_turbo = fs.read_number("/sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        return {"enabled": not bool(no_turbo), "source": "/sys/devices/system/cpu/intel_pstate/no_turbo"}
    return {"enabled": None, "source": None, "reason": "no cpufreq boost or intel_pstate no_turbo file here"}


def load_average() -> tuple[float, float, float] | None:
    text = fs.read_text("/proc/loadavg")
    try:
        a, b, c = (float(v) for v in (text or "").split()[:3])
    except ValueError:
        return None
    return a, b, c


def cpu_times() -> dict[str, int] | None:
    """The aggregate ``cpu`` line of /proc/stat, in clock ticks by field name."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
    for line in (fs.read_text("/proc/stat") or "").splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:len(names) + 1]]
            return dict(zip(names, values + [0] * (len(names) - len(values))))
    return None


def steal_pct(before: dict[str, int], after: dict[str, int]) -> float | None:
    """Share of CPU time the hypervisor gave to other guests between two /proc/stat readings."""
    # guest time is already counted in user/nice: leave it out of the total.
    keys = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    total = sum(after[k] - before[k] for k in keys)
    if total <= 0:
        return None
    return 100.0 * (after["steal"] - before["steal"]) / total


def _process_ticks() -> dict[int, tuple[str, int]]:
    out = {}
    for p in fs.glob("/proc/[0-9]*/stat"):
        text = fs.read_text(fs.device_path(p))
        if not text or ")" not in text:
            continue
        name = text[text.find("(") + 1:text.rfind(")")]
        rest = text[text.rfind(")") + 2:].split()
        try:
            out[int(p.parent.name)] = (name, int(rest[11]) + int(rest[12]))  # utime + stime
        except (ValueError, IndexError):
            continue
    return out


def busy_processes(interval_s: float = 0.5, exclude: set[int] | None = None,
                   threshold_pct: float = BUSY_PROCESS_PCT) -> list[dict[str, Any]]:
    """Processes other than ours that used more than ``threshold_pct`` of one core over ``interval_s``."""
    mine = {os.getpid(), os.getppid(), *(exclude or set())}
    first = _process_ticks()
    time.sleep(interval_s)
    second = _process_ticks()
    busy = []
    for pid, (name, ticks) in second.items():
        if pid in mine or pid not in first:
            continue
        pct = 100.0 * (ticks - first[pid][1]) / _CLK_TCK / interval_s
        if pct > threshold_pct:
            busy.append({"pid": pid, "name": name, "cpu_pct": round(pct, 1)})
    return sorted(busy, key=lambda b: -b["cpu_pct"])


# -- a window tracker ---------------------------------------------------------------------------

class StabilityTracker:
    """Steal time over a window, and the load at its start: ``start()`` … ``stop() -> dict``.

    Cheap (two /proc reads), so it can wrap every round; ``stop()`` can be called once per start."""

    def start(self) -> None:
        self._before = cpu_times()
        self._load = load_average()

    def stop(self) -> dict[str, Any]:
        after = cpu_times()
        before = getattr(self, "_before", None)
        out: dict[str, Any] = {"load_1m_at_start": self._load[0] if getattr(self, "_load", None) else None}
        if before is None or after is None:
            out.update(steal_pct=None, reason="/proc/stat is not readable here")
        else:
            out["steal_pct"] = steal_pct(before, after)
        return out


def summarize(windows: list[dict[str, Any]],
              at_start: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The record's ``stability`` group from the windows a run was timed in, and its warnings."""
    steals = [w["steal_pct"] for w in windows if w.get("steal_pct") is not None]
    group: dict[str, Any] = {**(at_start or {})}
    group["steal_pct_max"] = max(steals) if steals else None
    group["steal_pct_mean"] = sum(steals) / len(steals) if steals else None
    if not steals:
        group["reason"] = next((w.get("reason") for w in windows if w.get("reason")), None) or (
            "timed windows shorter than /proc/stat's clock tick (10 ms): no steal figure" if windows
            else "no timed window")
    notes = []
    if steals and max(steals) > STEAL_WARN_PCT:
        notes.append(f"hypervisor steal reached {max(steals):.1f}% of CPU time during timing (> {STEAL_WARN_PCT:g}%): "
                     "other guests on this host took CPU; numbers may not repeat (see `edgebench doctor`)")
    busy = (at_start or {}).get("busy_processes") or []
    if busy:
        names = ", ".join(f"{b['name']} ({b['cpu_pct']:.0f}%)" for b in busy[:3])
        notes.append(f"other processes were busy when the run started: {names}; stop them for repeatable numbers")
    return group, notes


def snapshot(busy_interval_s: float = 0.3) -> dict[str, Any]:
    """What a run records at its start: governor, boost, load and busy processes."""
    gov = governors()
    return {
        "governors": sorted(set(gov.values())) or None,
        "boost": boost().get("enabled"),
        "load_avg": list(load_average() or []) or None,
        "busy_processes": busy_processes(busy_interval_s),
    }


# -- doctor -------------------------------------------------------------------------------------

def check(busy_interval_s: float = 0.5, steal_window_s: float = 1.0) -> list[Finding]:
    """Everything that would make numbers unreliable on this machine now, each with its fix."""
    findings: list[Finding] = []
    cores = os.cpu_count() or 1
    gov = governors()
    if not gov:
        findings.append(Finding("cpu frequency governor", "info", "cpufreq is not exposed (a VM or a locked kernel): "
                                "the clock policy cannot be checked", "nothing to do here; on bare metal, check "
                                "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"))
    else:
        others = sorted({g for g in gov.values() if g != "performance"})
        if others:
            findings.append(Finding("cpu frequency governor", "warn", f"governor {', '.join(others)} on "
                                    f"{sum(g != 'performance' for g in gov.values())} of {len(gov)} cores: clocks "
                                    "follow load, so the first iterations and short windows run slower",
                                    "sudo cpupower frequency-set -g performance"))
    b = boost()
    if b.get("enabled"):
        findings.append(Finding("turbo/boost", "warn", f"boost is on ({b['source']}): the clock depends on "
                                "temperature and on how many cores are busy",
                                "echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/boost (AMD/acpi-cpufreq) or "
                                "echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo (Intel)"))
    load = load_average()
    if load and load[0] / cores > LOAD_PER_CORE_WARN:
        findings.append(Finding("load average", "warn", f"1-minute load {load[0]:.2f} on {cores} cores",
                                "wait for other work to finish, or run on a quiet machine"))
    for proc in busy_processes(busy_interval_s):
        findings.append(Finding("busy process", "warn", f"{proc['name']} (pid {proc['pid']}) uses "
                                f"{proc['cpu_pct']:.0f}% of a core", f"stop it (kill {proc['pid']}, or systemctl "
                                "stop its service) or pin the benchmark away from it (taskset -c N edgebench …)"))
    tracker = StabilityTracker()
    tracker.start()
    time.sleep(steal_window_s)
    steal = tracker.stop().get("steal_pct")
    if steal is not None and steal > STEAL_WARN_PCT:
        findings.append(Finding("hypervisor steal", "warn", f"{steal:.1f}% of CPU time went to other guests over "
                                f"{steal_window_s:g} s", "use dedicated vCPUs (a non-burstable instance type) or "
                                "bare metal; compare only runs interleaved in one session"))
    if cores > 1:
        findings.append(Finding("core pinning", "info", f"{cores} cores; the OS may move the benchmark between them",
                                "pin it: taskset -c 1 edgebench run …, with --threads 1"))
    return findings


def wait_for_quiet(timeout_s: float, poll_s: float = 1.0, steal_limit_pct: float = STEAL_WARN_PCT,
                   stop: threading.Event | None = None) -> dict[str, Any]:
    """Wait, at most ``timeout_s``, until no other process is busy and steal is under its limit.

    Like the thermal cool-down: a bounded wait that says whether it got there. Each poll is itself
    a measurement of ``poll_s`` (busy processes and steal over that interval), never a busy loop."""
    event = stop or threading.Event()
    t0 = time.monotonic()
    busy: list[dict[str, Any]] = []
    steal: float | None = None
    while True:
        before = cpu_times()
        busy = busy_processes(poll_s)
        after = cpu_times()
        steal = steal_pct(before, after) if before and after else None
        quiet = not busy and (steal is None or steal <= steal_limit_pct)
        waited = time.monotonic() - t0
        if quiet or waited >= timeout_s or event.is_set():
            break
    reason = None
    if not quiet:
        parts = [f"{b['name']} ({b['cpu_pct']:.0f}%)" for b in busy[:3]]
        if steal is not None and steal > steal_limit_pct:
            parts.append(f"steal {steal:.1f}%")
        reason = f"still busy after {timeout_s:g} s: {', '.join(parts)}"
    return {"quiet": quiet, "waited_s": round(time.monotonic() - t0, 2), "busy_processes": busy,
            "steal_pct": steal, "reason": reason}
