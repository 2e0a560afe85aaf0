"""``edgebench devices``: the detected device profile, its facts, and every telemetry source."""

from __future__ import annotations

import argparse
from typing import Any

from devices.environment import capture_environment
from devices.profiles import DETECT_ORDER, PROFILES, DeviceError, resolve
from devices.telemetry import Telemetry
from harness import __version__
from harness.cli.common import add_json, add_out, print_json
from harness.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("devices", help="this machine's device profile, facts and telemetry sources",
                              description="Detect the device profile (host, jetson, rpi, coral, nvidia-gpu), show "
                              "its facts and, for every telemetry sampler, whether it is available or why not.")
    p.add_argument("--device", metavar="NAME", default=None,
                   help=f"check a profile instead of detecting one ({', '.join(PROFILES)})")
    add_json(p)
    add_out(p)
    p.set_defaults(func=handler)


def describe(device: str | None = None) -> dict[str, Any]:
    try:
        profile = resolve(device)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None
    telemetry = Telemetry.for_profile(profile)
    samplers = {}
    for s in telemetry.all_samplers:
        reason = telemetry.sources[s.name]
        samplers[s.name] = {
            "available": reason is None,
            "reason": reason or telemetry.alternatives_unused.get(s.name),
            "power_group": getattr(s, "power_group", None),
            "update_period_s": getattr(s, "update_period_s", None) or None,
            "scope": getattr(s, "scope", None) or None,
        }
    matches = {}
    for name in DETECT_ORDER:
        ok, evidence = PROFILES[name].matches()
        matches[name] = {"matches": ok, "evidence": evidence}
    return {
        "profile": profile.name,
        "description": profile.description,
        "backends_first": list(profile.backends),
        "backend_options": profile.backend_options,
        "runner_defaults": profile.runner_defaults,
        "power_source": "+".join(s.name for s in telemetry.total_samplers) or None,
        "min_window_s": telemetry.min_window_s(),
        "facts": profile.facts(),
        "samplers": samplers,
        "profiles": matches,
        "environment": capture_environment(__version__),
    }


def handler(args: argparse.Namespace) -> int:
    info = describe(args.device)
    if args.json:
        print_json(info)
        return 0
    print(f"device profile: {info['profile']} ({info['description']})")
    print(f"backends to try first: {', '.join(info['backends_first'])}")
    print(f"runner defaults: {info['runner_defaults']}")
    facts = info["facts"]
    for key in ("board_model", "cpu_model", "machine"):
        if facts.get(key):
            print(f"{key}: {facts[key]}")
    if "jetson" in facts:
        j = facts["jetson"]
        print(f"L4T: {(j['l4t'] or {}).get('l4t')}  power mode: {j['power_mode'].get('name')}"
              f"  clocks locked: {j['jetson_clocks'].get('locked')}")
    if "rpi" in facts:
        print(f"Pi revision: {facts['rpi'].get('revision')}  throttled: {facts['rpi'].get('throttled')}")
    print(f"Edge TPU: {'present' if facts['edge_tpu']['present'] else 'none'}")
    nv = facts["nvml"]
    print(f"NVIDIA GPUs: {', '.join(g['name'] for g in nv['gpus']) or 'none (' + str(nv.get('reason')) + ')'}")
    print(f"power source: {info['power_source'] or 'none'}")
    print("telemetry samplers:")
    width = max((len(n) for n in info["samplers"]), default=0)
    for name, s in info["samplers"].items():
        state = "available" if s["available"] else "unavailable"
        extra = f": {s['reason']}" if s["reason"] else ""
        print(f"  {name:<{width}}  {state}{extra}")
    env = info["environment"]
    print(f"environment: {env['os']}, kernel {env['kernel']}, {env['cpu']['model']}, "
          f"{env['cpu']['logical_cores']} cores, Python {env['python']}")
    from harness.cli.backends import cpu_features_line

    print(cpu_features_line(env["cpu"]["precision_features"]))
    return 0
