"""A two-board fleet on loopback: two OpenSSH servers on 127.0.0.1 (free ports, generated keys, their own
sshd_config, the same machine behind both), one `edgebench fleet run` over them, the cross-device report.

    .venv/bin/python benchmarks/fleet_loopback.py [--suite suites/quick.yaml] [--out out/fleet-loopback]

Both "boards" run this checkout's edgebench (inventory key `edgebench:`), so nothing is deployed. They are the
same CPU: the report's cross-device answer should say "as fast as … within the noise" or name a small
difference; a real fleet differs by hardware. Run it on a quiet machine. The servers are killed at the end.
"""

from __future__ import annotations

import argparse
import getpass
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.fleet.conftest import Sshd, free_port, keygen, write_inventory  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default=str(REPO / "suites" / "quick.yaml"))
    parser.add_argument("--out", default=str(REPO / "out" / "fleet-loopback"))
    args = parser.parse_args()
    edgebench = str(Path(sys.executable).with_name("edgebench"))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    servers: list[Sshd] = []
    with tempfile.TemporaryDirectory(prefix="edgebench-fleet-") as tmp:
        try:
            entries, known = [], []
            for name in ("loop-a", "loop-b"):
                root = Path(tmp) / name
                root.mkdir()
                server = Sshd(root=root, port=free_port(), host_key=keygen(root / "host_key"),
                              client_key=keygen(root / "client_key"))
                (root / "authorized_keys").write_text(server.client_key.with_suffix(".pub").read_text())
                servers.append(server.start())
                known.append(server.known_hosts_line)
                entries.append({"name": name, "host": "127.0.0.1", "port": server.port, "user": getpass.getuser(),
                                "key": str(server.client_key), "profile": "host", "edgebench": edgebench,
                                "workdir": str(out / "boards" / name)})
            (Path(tmp) / "known_hosts").write_text("".join(known))
            inventory = write_inventory(Path(tmp) / "fleet.yaml", entries, Path(tmp) / "known_hosts")
            base = [edgebench, "fleet"]
            subprocess.run([*base, "check", str(inventory)], check=False)
            done = subprocess.run([*base, "run", args.suite, "--inventory", str(inventory), "--out", str(out),
                                   "--report", str(out / "fleet-report.html")])
            subprocess.run([edgebench, "report", "--out", str(out), "-o", str(out / "fleet-report.md")], check=False)
            return done.returncode
        finally:
            for server in servers:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
