"""``fleet.yaml``: the boards of a fleet, validated with key-path errors like suites.

    known_hosts: ~/.ssh/known_hosts        # optional; where host keys are checked (OpenSSH's file by default)
    devices:
      - {name: orin-nano-1, host: 192.0.2.10, user: bench, key: ~/.ssh/id_ed25519, profile: jetson}
      - {name: pi5-a, host: pi5-a.local, port: 22, user: bench, profile: rpi, python: python3.11,
         edgebench: /home/bench/.venv/bin/edgebench, tags: [pi, lab-2]}

No password field exists on purpose: keys (a file or the SSH agent) only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UsageError

# The extras a deployed venv gets per profile. Jetson's onnxruntime-gpu and TensorRT come from JetPack
# (system packages), so its venv sees the system site and installs no runtime from PyPI over them.
PROFILE_EXTRAS: dict[str, tuple[str, ...]] = {
    "jetson": (),
    "rpi": ("onnxruntime", "litert"),
    "coral": ("litert",),
    "nvidia-gpu": ("onnxruntime", "nvml"),
    "host": ("onnxruntime", "openvino", "litert"),
}
SYSTEM_SITE_BY_PROFILE = {"jetson": True}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DEVICE_KEYS = {"name", "host", "port", "user", "key", "profile", "tags", "python", "workdir", "edgebench",
                "extras", "system_site_packages", "site_dirs", "env"}


@dataclass(frozen=True)
class Device:
    name: str
    host: str
    user: str
    profile: str
    port: int = 22
    key: str | None = None  # a private key file; None: the SSH agent
    tags: tuple[str, ...] = ()
    python: str = "python3"
    workdir: str = "edgebench"  # relative paths are under the login's home
    edgebench: str | None = None  # an edgebench already installed there (then no deploy)
    extras: tuple[str, ...] = ()
    system_site_packages: bool = False
    site_dirs: tuple[str, ...] = ()  # package folders already on the board the venv should see
    env: dict[str, str] = field(default_factory=dict)  # variables set for every remote command

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def venv(self) -> str:
        return f"{self.workdir}/venv"

    @property
    def remote_edgebench(self) -> str:
        return self.edgebench or f"{self.venv}/bin/edgebench"

    @property
    def out(self) -> str:
        return f"{self.workdir}/out"


@dataclass(frozen=True)
class Inventory:
    devices: list[Device]
    known_hosts: str
    path: str

    def select(self, names: list[str] | None = None, tags: list[str] | None = None) -> list[Device]:
        """The devices named (in the order given) and/or carrying any of the tags."""
        known = {d.name: d for d in self.devices}
        missing = [n for n in names or [] if n not in known]
        if missing:
            raise UsageError(f"{self.path}: no device named {', '.join(missing)}; the inventory has "
                             f"{', '.join(known)}")
        chosen = [known[n] for n in names] if names else list(self.devices)
        if tags:
            chosen = [d for d in chosen if set(tags) & set(d.tags)]
            if not chosen:
                have = sorted({t for d in self.devices for t in d.tags})
                raise UsageError(f"{self.path}: no device has any of the tags {', '.join(tags)} "
                                 f"(tags in the inventory: {', '.join(have) or 'none'})")
        return chosen


def _fail(source: str, key: str, expected: str, found: Any) -> UsageError:
    shown = f"'{found}'" if isinstance(found, str) else repr(found)
    return UsageError(f"{source}: at '{key}': expected {expected}, found {shown}")


def _str(raw: dict[str, Any], key: str, where: str, source: str, default: str | None = None) -> str | None:
    value = raw.get(key, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _fail(source, f"{where}.{key}", "a non-empty string", value)
    return value


def _str_list(raw: dict[str, Any], key: str, where: str, source: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, f"{where}.{key}", "a list of strings", value)
    return tuple(value)


def _device(raw: Any, i: int, source: str, profiles: list[str]) -> Device:
    where = f"devices[{i}]"
    if not isinstance(raw, dict):
        raise _fail(source, where, "a mapping with name, host, user and profile", raw)
    unknown = sorted(set(raw) - _DEVICE_KEYS)
    if unknown:
        hint = " (passwords are not supported: use a key file or the SSH agent)" if "password" in unknown else ""
        raise _fail(source, f"{where}.{unknown[0]}", f"one of the keys {', '.join(sorted(_DEVICE_KEYS))}{hint}",
                    unknown[0])
    for key in ("name", "host", "user", "profile"):
        if key not in raw:
            raise _fail(source, f"{where}.{key}", f"the device's {key}", None)
    name = _str(raw, "name", where, source)
    if not _NAME_RE.match(name or ""):
        raise _fail(source, f"{where}.name", "letters, digits, '.', '_' or '-' (it names files and records)", name)
    profile = _str(raw, "profile", where, source)
    if profile not in profiles:
        raise _fail(source, f"{where}.profile", f"a device profile ({', '.join(profiles)})", profile)
    port = raw.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise _fail(source, f"{where}.port", "a TCP port (1-65535)", port)
    key = _str(raw, "key", where, source)
    extras = _str_list(raw, "extras", where, source) if "extras" in raw else PROFILE_EXTRAS.get(profile, ())
    system_site = raw.get("system_site_packages", SYSTEM_SITE_BY_PROFILE.get(profile, False))
    if not isinstance(system_site, bool):
        raise _fail(source, f"{where}.system_site_packages", "true or false", system_site)
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float))
                                            for k, v in env.items()):
        raise _fail(source, f"{where}.env", "a mapping of variable names to values", env)
    workdir = _str(raw, "workdir", where, source, "edgebench") or "edgebench"
    return Device(
        name=name or "", host=_str(raw, "host", where, source) or "", user=_str(raw, "user", where, source) or "",
        profile=profile or "", port=port, key=str(Path(key).expanduser()) if key else None,
        tags=_str_list(raw, "tags", where, source), python=_str(raw, "python", where, source, "python3") or "python3",
        workdir=_remote_path(workdir), edgebench=_str(raw, "edgebench", where, source), extras=extras,
        system_site_packages=system_site, site_dirs=_str_list(raw, "site_dirs", where, source),
        env={k: str(v) for k, v in env.items()},
    )


def _remote_path(path: str) -> str:
    """``~/x`` and ``x`` both mean x under the login's home: SFTP and the shell start there."""
    path = path.rstrip("/") or "/"
    return path[2:] if path.startswith("~/") else path


def parse_inventory(data: Any, source: str = "<inventory>") -> Inventory:
    from devices.profiles import PROFILES

    if not isinstance(data, dict):
        raise _fail(source, "", "a mapping with a 'devices' list", data)
    unknown = sorted(set(data) - {"devices", "known_hosts"})
    if unknown:
        raise _fail(source, unknown[0], "one of the keys devices, known_hosts", unknown[0])
    raw_devices = data.get("devices")
    if not isinstance(raw_devices, list) or not raw_devices:
        raise _fail(source, "devices", "a non-empty list of devices", raw_devices)
    devices = [_device(d, i, source, list(PROFILES)) for i, d in enumerate(raw_devices)]
    seen: set[str] = set()
    for i, d in enumerate(devices):
        if d.name in seen:
            raise _fail(source, f"devices[{i}].name", "a name no other device has", d.name)
        seen.add(d.name)
    known_hosts = data.get("known_hosts", "~/.ssh/known_hosts")
    if not isinstance(known_hosts, str) or not known_hosts:
        raise _fail(source, "known_hosts", "a file path", known_hosts)
    return Inventory(devices=devices, known_hosts=str(Path(known_hosts).expanduser()), path=source)


def load_inventory(path: str | Path) -> Inventory:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"inventory file {p} does not exist; write a fleet.yaml (see the README, 'A fleet of boards')")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UsageError(f"{p}: not valid YAML: {exc}") from exc
    inventory = parse_inventory(data, str(p))
    # A relative key or known_hosts path is read from the inventory's folder, like a suite's model paths.
    base = p.resolve().parent
    fixed = [_beside(d, base) for d in inventory.devices]
    known_hosts = inventory.known_hosts
    if not Path(known_hosts).is_absolute():
        known_hosts = str(base / known_hosts)
    return Inventory(devices=fixed, known_hosts=known_hosts, path=str(p))


def _beside(device: Device, base: Path) -> Device:
    import dataclasses

    if device.key and not Path(device.key).is_absolute():
        return dataclasses.replace(device, key=str(base / device.key))
    return device
