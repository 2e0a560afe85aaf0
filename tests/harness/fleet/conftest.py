"""Real OpenSSH servers for the fleet tests: each on a free 127.0.0.1 port, with its own generated host
key, an authorized client key and sshd_config in a temp folder. A "board" is one such sshd; a FAKE
Jetson board is one whose sshd sets EDGEBENCH_FS_ROOT to a fake sysfs tree (the fakes of tests/devices).
Every server is killed with its whole process tree by the fixture's finalizer."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
KEYGEN = shutil.which("ssh-keygen")



def keygen(path: Path) -> Path:
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    root: Path
    port: int
    host_key: Path
    client_key: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def known_hosts_line(self) -> str:
        kind, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def config(self) -> Path:
        lines = [
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.root / 'sshd.pid'}", f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "StrictModes no", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin prohibit-password",
            f"AllowUsers {getpass.getuser()}", "Subsystem sftp internal-sftp", "LogLevel VERBOSE",
            "MaxStartups 50", "ClientAliveInterval 0",
        ]
        if self.env:
            lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in self.env.items()))
        path = self.root / "sshd_config"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> Sshd:
        config = self.config()
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation folder
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            pytest.skip(f"sshd refuses the test config: {check.stderr.strip()}")
        with open(self.root / "sshd.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # readiness, not timing: wait until it listens
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 15 s")

    def kill(self) -> None:
        """The board loses power: sshd and every session under it (the running edgebench too)."""
        import psutil

        if self.proc is None:
            return
        try:
            tree = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for p in tree:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def make_sshd(tmp_path_factory):
    """make_sshd(env=None, authorize=True) -> a started Sshd; all are killed at teardown."""
    started: list[Sshd] = []

    def make(env: dict[str, str] | None = None, authorize: bool = True) -> Sshd:
        if SSHD is None or KEYGEN is None:
            pytest.skip("OpenSSH server not installed (make install runs scripts/install-system-deps.sh)")
        if sys.platform != "linux":
            pytest.skip("the fleet tests start OpenSSH's sshd, set up for Linux")
        root = tmp_path_factory.mktemp("sshd")
        server = Sshd(root=root, port=free_port(), host_key=keygen(root / "ssh_host_ed25519_key"),
                      client_key=keygen(root / "client_key"), env=dict(env or {}))
        if authorize:
            (root / "authorized_keys").write_text(server.client_key.with_suffix(".pub").read_text())
        else:
            (root / "authorized_keys").write_text("")
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.kill()


def inventory_entry(server: Sshd, name: str, profile: str, workdir: Path, **extra) -> dict:
    return {"name": name, "host": "127.0.0.1", "port": server.port, "user": getpass.getuser(),
            "key": str(server.client_key), "profile": profile, "workdir": str(workdir), **extra}


def write_inventory(path: Path, entries: list[dict], known_hosts: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"known_hosts": str(known_hosts), "devices": entries}, sort_keys=False))
    return path
