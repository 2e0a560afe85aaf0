"""``fleet check``: what each board is and what it can run, or why it cannot be used."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness.fleet.deploy import MARKER
from harness.fleet.inventory import Device
from harness.fleet.ssh import BoardError, connect


async def check_device(device: Device, known_hosts: str, accept_new: bool = False,
                       timeout_s: float = 15.0) -> dict[str, Any]:
    out: dict[str, Any] = {"name": device.name, "address": device.address, "profile": device.profile,
                           "reachable": False, "usable": False, "problems": []}
    try:
        board = await connect(device, known_hosts, accept_new, timeout_s)
    except BoardError as exc:
        out["problems"].append(str(exc))
        return out
    out["reachable"] = True
    try:
        out["os"] = (await board.run(["uname", "-srm"])).stdout.strip() or None
        py = await board.run([device.python, "--version"])
        out["python"] = (py.stdout or py.stderr).strip() if py.exit_status == 0 else None
        if out["python"] is None:
            out["problems"].append(f"{device.python} not found on the board (set 'python' in the inventory)")
        await _edgebench_facts(board, device, out)
    except BoardError as exc:
        out["problems"].append(str(exc))
    finally:
        await board.close()
    out["usable"] = not out["problems"]
    return out


async def _edgebench_facts(board, device: Device, out: dict[str, Any]) -> None:
    exe = device.remote_edgebench
    version = await board.run([exe, "--version"])
    if version.exit_status != 0:
        out["edgebench"] = {"installed": False, "path": exe}
        how = "run 'edgebench fleet deploy'" if not device.edgebench else "fix 'edgebench' in the inventory"
        out["problems"].append(f"edgebench is not installed at {exe}: {how}")
        return
    marker = await board.read_text(f"{device.venv}/{MARKER}") if not device.edgebench else None
    deployed = json.loads(marker) if marker else {}
    out["edgebench"] = {"installed": True, "path": exe, "version": version.stdout.strip().split()[-1],
                        "commit": deployed.get("commit"), "deployed_at": deployed.get("deployed_at")}
    backends = await board.run([exe, "backends", "--json"])
    rows = _json(backends.stdout) if backends.exit_status == 0 else None
    out["backends"] = {r["name"]: (r.get("version") if r.get("available") else None) for r in rows or []}
    out["backends_unavailable"] = {r["name"]: r.get("reason") for r in rows or [] if not r.get("available")}
    facts = await board.run([exe, "devices", "--json", "--device", device.profile])
    info = _json(facts.stdout) if facts.exit_status == 0 else None
    if info is None:
        tail = (facts.stderr.strip().splitlines() or ["no message"])[-1]
        out["problems"].append(f"the board is not a '{device.profile}' device: {tail}")
    else:
        out["facts"] = info.get("facts")
        out["power_source"] = info.get("power_source")
        # An edgebench run from a checkout on the board knows its own commit; a deployed wheel has the marker's.
        commit = ((info.get("environment") or {}).get("edgebench") or {}).get("commit")
        if commit and not out["edgebench"].get("commit"):
            out["edgebench"]["commit"] = commit


def _json(text: str) -> Any:
    from harness.fleet.run import _parse_json

    try:
        return _parse_json(text, ["check"])
    except BoardError:
        return None


async def check_all(devices: list[Device], known_hosts: str, accept_new: bool = False,
                    timeout_s: float = 15.0) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(check_device(d, known_hosts, accept_new, timeout_s) for d in devices)))
