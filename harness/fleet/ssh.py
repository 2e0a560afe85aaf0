"""SSH to a board with asyncssh: keys only, host keys checked against known_hosts.

asyncssh rather than Paramiko/Fabric: the controller drives several boards at once, and asyncio gives
one connection per board with streamed output and cancellation (Ctrl-C) without a thread per board;
it speaks SFTP and reads OpenSSH's known_hosts and key files as they are.

Every failure becomes a ``BoardError`` whose message says what happened and what to do; ``Unreachable``
(network, refused, dropped) is the one the controller retries.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.fleet.inventory import Device

KEEPALIVE_S = 5  # a board that vanishes without a TCP reset is noticed after KEEPALIVE_S * 3


class BoardError(Exception):
    """A board cannot be used; the message says why and what to do."""


class Unreachable(BoardError):
    """The network side failed (refused, timed out, dropped): worth a retry."""


class AuthRefused(BoardError):
    pass


class HostKeyRefused(BoardError):
    pass


@dataclass
class Completed:
    exit_status: int
    stdout: str
    stderr: str


class _HostKeyPolicy:
    """known_hosts decides; with accept_new a host that has no entry at all is trusted once and
    written down (OpenSSH's StrictHostKeyChecking=accept-new). A changed key is always refused."""

    def __init__(self, known_hosts: str, accept_new: bool) -> None:
        self.path = known_hosts
        self.accept_new = accept_new
        self.offered = None
        self.accepted = None

    def known_entry(self, host: str, port: int) -> bool:
        import asyncssh

        if not Path(self.path).is_file():
            return False
        try:
            found = asyncssh.match_known_hosts(self.path, host, host, port if port != 22 else None)
        except (OSError, ValueError):
            return False
        return bool(found[0] or found[1])

    def remember(self, host: str, port: int) -> None:
        if self.accepted is None:
            return
        name = host if port == 22 else f"[{host}]:{port}"
        key_text = self.accepted.export_public_key("openssh").decode().split()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(f"{name} {key_text[0]} {key_text[1]}\n")


def _client_factory(policy: _HostKeyPolicy, known: bool):
    import asyncssh

    class _Client(asyncssh.SSHClient):
        def validate_host_public_key(self, host, addr, port, key):  # type: ignore[override]
            policy.offered = key
            if policy.accept_new and not known:
                policy.accepted = key
                return True
            return False

    return _Client


async def connect(device: Device, known_hosts: str, accept_new: bool = False, timeout_s: float = 15.0) -> Board:
    """An authenticated connection to ``device``, or a BoardError saying why not."""
    import asyncssh

    if device.key and not Path(device.key).is_file():
        raise BoardError(f"{device.name}: key file {device.key} does not exist; fix 'key' in the inventory "
                         "or leave it out to use the SSH agent")
    policy = _HostKeyPolicy(known_hosts, accept_new)
    known = policy.known_entry(device.host, device.port)
    options = dict(
        port=device.port, username=device.user, known_hosts=known_hosts if Path(known_hosts).is_file() else b"",
        client_factory=_client_factory(policy, known), preferred_auth="publickey", connect_timeout=timeout_s,
        keepalive_interval=KEEPALIVE_S, keepalive_count_max=3, config=[],
    )
    if device.key:
        options.update(client_keys=[device.key], agent_path=None)
    try:
        conn = await asyncssh.connect(device.host, **options)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyRefused(_host_key_message(device, policy, known)) from exc
    except asyncssh.PermissionDenied as exc:
        raise AuthRefused(_auth_message(device)) from exc
    except asyncssh.KeyImportError as exc:
        raise BoardError(f"{device.name}: cannot read key {device.key} ({exc}); a key with a passphrase "
                         "goes into the SSH agent (ssh-add) and the inventory leaves 'key' out") from exc
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise Unreachable(f"{device.name} ({device.host}:{device.port}): {_why(exc)}") from exc
    policy.remember(device.host, device.port)
    return Board(device, conn)


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer (connection timed out)"
    text = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


def _host_key_message(device: Device, policy: _HostKeyPolicy, known: bool) -> str:
    where = device.host if device.port == 22 else f"[{device.host}]:{device.port}"
    shown = policy.offered.get_fingerprint() if policy.offered is not None else "unknown fingerprint"
    if known:
        return (f"{device.name}: the host key of {where} ({shown}) does NOT match the one in {policy.path}: the "
                "board was reinstalled, or something is in between. If you trust the change, remove the old "
                f"entry (ssh-keygen -R '{where}' -f {policy.path}) and connect again; nothing was run")
    return (f"{device.name}: unknown host key for {where} ({shown}): it is not in {policy.path}. Check the "
            f"fingerprint on the board (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it "
            f"(ssh-keyscan -p {device.port} {device.host} >> {policy.path}), or pass --accept-new to trust "
            "boards seen for the first time (a changed key is still refused)")


def _auth_message(device: Device) -> str:
    if device.key:
        return (f"{device.name}: {device.address} refused the key {device.key} (public-key authentication "
                f"failed). Add {device.key}.pub to ~{device.user}/.ssh/authorized_keys on the board "
                f"(ssh-copy-id -i {device.key}.pub -p {device.port} {device.user}@{device.host}), or fix "
                "'key'/'user' in the inventory. Passwords are not used")
    return (f"{device.name}: {device.address} accepted none of the SSH agent's keys; load the right one "
            "(ssh-add KEY) or name it with 'key' in the inventory. Passwords are not used")


def command_line(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """A POSIX shell line: every word quoted; ``~/`` left unquoted so the board's shell expands it."""
    words = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    words = ["env", *words] if words else []
    for a in argv:
        words.append("~/" + shlex.quote(a[2:]) if a.startswith("~/") else shlex.quote(a))
    return " ".join(words)


class Board:
    """One authenticated SSH connection to one board."""

    def __init__(self, device: Device, conn) -> None:
        self.device = device
        self.conn = conn

    async def close(self) -> None:
        self.conn.close()
        try:
            await asyncio.wait_for(self.conn.wait_closed(), 5)
        except (asyncio.TimeoutError, OSError):
            pass

    async def run(self, argv: Sequence[str], on_stderr: Callable[[str], None] | None = None,
                  timeout_s: float | None = None) -> Completed:
        """Run a command; stderr lines stream to ``on_stderr``. A dropped connection is Unreachable."""
        import asyncssh

        line = command_line(argv, self.device.env)
        err: list[str] = []
        try:
            async with self.conn.create_process(line, encoding="utf-8", errors="replace") as proc:
                async def pump() -> None:
                    async for text in proc.stderr:
                        err.append(text)
                        if on_stderr is not None:
                            on_stderr(text.rstrip("\n"))

                pumping = asyncio.ensure_future(pump())
                try:
                    out = await asyncio.wait_for(proc.stdout.read(), timeout_s)
                    await pumping
                    await proc.wait()
                except asyncio.CancelledError:
                    _stop(proc)  # Ctrl-C on the controller: ask the board's process to stop too
                    raise
                finally:
                    pumping.cancel()
                status = proc.exit_status
        except asyncio.TimeoutError as exc:
            raise Unreachable(f"{self.device.name}: {argv[0]} gave no result within {timeout_s:g} s") from exc
        except (OSError, asyncssh.Error) as exc:
            raise Unreachable(f"{self.device.name} ({self.device.host}:{self.device.port}): {_why(exc)}") from exc
        if status is None or status < 0:
            raise Unreachable(f"{self.device.name} ({self.device.host}:{self.device.port}): the connection was "
                              f"lost while running {os.path.basename(argv[0])}")
        return Completed(status, out, "".join(err))

    async def put_files(self, files: Sequence[Path], remote_dir: str) -> None:
        """Copy files into ``remote_dir`` atomically: a temporary folder renamed at the end, so a
        half-copied folder never looks complete (the folder's name is the content hash)."""
        import asyncssh

        tmp = f"{remote_dir}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            async with self.conn.start_sftp_client() as sftp:
                await sftp.makedirs(tmp, exist_ok=True)
                for f in files:
                    await sftp.put(str(f), f"{tmp}/{f.name}")
                await sftp.posix_rename(tmp, remote_dir)
        except (OSError, asyncssh.Error) as exc:
            raise Unreachable(f"{self.device.name}: copying to {remote_dir} failed: {_why(exc)}") from exc

    async def exists(self, remote_path: str) -> bool:
        import asyncssh

        try:
            async with self.conn.start_sftp_client() as sftp:
                return bool(await sftp.exists(remote_path))
        except (OSError, asyncssh.Error) as exc:
            raise Unreachable(f"{self.device.name}: {_why(exc)}") from exc

    async def read_text(self, remote_path: str) -> str | None:
        import asyncssh

        try:
            async with self.conn.start_sftp_client() as sftp:
                if not await sftp.exists(remote_path):
                    return None
                async with sftp.open(remote_path, "r") as f:
                    return await f.read()
        except (OSError, asyncssh.Error) as exc:
            raise Unreachable(f"{self.device.name}: {_why(exc)}") from exc

    async def write_text(self, remote_path: str, text: str) -> None:
        await self.write_bytes(remote_path, text.encode())

    async def write_bytes(self, remote_path: str, data: bytes) -> None:
        """Write through a temporary name and rename, so a reader never sees half a file."""
        import asyncssh

        try:
            async with self.conn.start_sftp_client() as sftp:
                await sftp.makedirs(os.path.dirname(remote_path) or ".", exist_ok=True)
                async with sftp.open(remote_path + ".tmp", "wb") as f:
                    await f.write(data)
                await sftp.posix_rename(remote_path + ".tmp", remote_path)
        except (OSError, asyncssh.Error) as exc:
            raise Unreachable(f"{self.device.name}: writing {remote_path} failed: {_why(exc)}") from exc


def _stop(proc) -> None:
    try:
        proc.send_signal("INT")
    except Exception:  # the channel may already be gone; nothing else to do
        pass
