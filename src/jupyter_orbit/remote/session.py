"""One SSH connection to a remote host, through asyncssh, with failures turned into errors
that say which host and what to do.

The user's SSH setup is used as it is: ``~/.ssh/config`` (HostName, User, Port, IdentityFile,
ServerAliveInterval …), the agent (``SSH_AUTH_SOCK``) and the default keys. Host keys are checked
against the user's known_hosts files and the profile's own (``HostKeys``); nothing is accepted on
the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jupyter_orbit.remote._lib import asyncssh
from jupyter_orbit.remote.errors import (
    AuthRefused,
    ConnectionDropped,
    HostKeyChanged,
    HostKeyUnknown,
    HostUnreachable,
    RemoteCommandFailed,
    RemoteDiskFull,
    RemoteError,
)
from jupyter_orbit.remote.hostkeys import HostKeys, fingerprint, known_hosts_name, user_known_hosts
from jupyter_orbit.remote.hosts import HostStore, RemoteHost

ORBIT_DIR = ".cache/orbit-remote"  # under the remote user's home: everything Orbit keeps there
_NOSPACE = ("No space left on device", "os error 28", "ENOSPC", "Disk quota exceeded")


@dataclass(frozen=True)
class Endpoint:
    """Where a host really is once the SSH config has been applied."""

    host: str  # the name known_hosts files know it by (HostKeyAlias, else HostName)
    address: str  # HostName
    port: int
    user: str
    known_hosts: tuple[str, ...]  # UserKnownHostsFile from the config, if any
    keepalive: float
    keepalive_count: int

    @property
    def label(self) -> str:
        return f"{self.user}@{known_hosts_name(self.address, self.port)}"


def endpoint(host: RemoteHost) -> Endpoint:
    lib = asyncssh()
    t = host.target
    opts = lib.SSHClientConnectionOptions(
        host=t.host, port=t.port or (), username=t.user or (), config=()
    )
    return Endpoint(
        host=opts.host_key_alias or opts.host,
        address=opts.host,
        port=opts.port,
        user=opts.username,
        known_hosts=tuple(opts.known_hosts or ()),
        keepalive=float(opts.keepalive_interval or 0),
        keepalive_count=int(opts.keepalive_count_max or 3),
    )


def host_keys(store: HostStore, ep: Endpoint) -> HostKeys:
    return HostKeys(store.known_hosts, user_known_hosts(ep.known_hosts))


async def server_key(host: RemoteHost, ep: Endpoint, timeout: float = 20) -> Any:
    """The key the host presents, fetched without authenticating (and without trusting it)."""
    lib = asyncssh()
    try:
        key = await asyncio.wait_for(
            lib.get_server_host_key(host.target.host, host.target.port or (), config=()),
            timeout,
        )
    except (TimeoutError, OSError, lib.Error) as e:
        raise unreachable(host, ep, e) from None
    if key is None:
        raise HostUnreachable(f"{host.name} ({ep.label}) presented no host key", _ssh_hint(ep))
    return key


def unreachable(host: RemoteHost, ep: Endpoint, err: BaseException) -> HostUnreachable:
    reason = str(err) or type(err).__name__
    if isinstance(err, asyncio.TimeoutError):
        reason = "no answer (timed out)"
    return HostUnreachable(
        f"cannot reach the remote host {host.name} at {ep.label}: {reason}",
        "check that the host is up and on the network, that the address and port are right "
        f"and that an SSH server listens there; `{_ssh_command(ep)} true` should work",
    )


def _ssh_command(ep: Endpoint) -> str:
    port = f" -p {ep.port}" if ep.port != 22 else ""
    return f"ssh{port} {ep.user}@{ep.address}"


def _ssh_hint(ep: Endpoint) -> str:
    return f"`{_ssh_command(ep)} true` should work from this machine"


async def connect(
    host: RemoteHost,
    store: HostStore,
    *,
    timeout: float = 20,
    keepalive: float | None = None,
    keepalive_count: int | None = None,
    accept_key: Any = None,
) -> Session:
    """An authenticated connection to ``host``, its key checked; a ``RemoteError`` otherwise.

    ``accept_key``: a key the user has just accepted for this host (not yet recorded).
    """
    lib = asyncssh()
    ep = endpoint(host)
    keys = host_keys(store, ep)
    trusted = keys.trusted()
    if accept_key is not None:
        line = f"{known_hosts_name(ep.host, ep.port)} {accept_key.export_public_key().decode()}"
        trusted = lib.import_known_hosts(keys.text() + line)
    t = host.target
    kw: dict[str, Any] = {}
    if keepalive is not None:
        kw["keepalive_interval"] = keepalive
    if keepalive_count is not None:
        kw["keepalive_count_max"] = keepalive_count
    try:
        conn = await lib.connect(
            t.host,
            port=t.port or (),
            username=t.user or (),
            config=(),
            known_hosts=trusted,
            connect_timeout=timeout,
            **kw,
        )
    except lib.HostKeyNotVerifiable:
        raise await _key_failure(host, ep, keys) from None
    except lib.PermissionDenied:
        raise AuthRefused(
            f"{host.name} ({ep.label}) refused every key offered",
            "Orbit uses your SSH agent, the keys in ~/.ssh and IdentityFile from ~/.ssh/config: "
            f"load the right key (`ssh-add`) or add your public key to ~/.ssh/authorized_keys of "
            f"{ep.user} on {ep.address}; {_ssh_hint(ep)} without a password",
        ) from None
    except (TimeoutError, OSError, lib.ConnectionLost) as e:
        raise unreachable(host, ep, e) from None
    except lib.DisconnectError as e:
        raise RemoteError(
            f"{host.name} ({ep.label}) closed the connection: {e.reason}", _ssh_hint(ep)
        ) from None
    return Session(conn, host, ep)


async def _key_failure(host: RemoteHost, ep: Endpoint, keys: HostKeys) -> RemoteError:
    key = await server_key(host, ep)
    verdict = keys.verdict(ep.host, ep.port, key)
    name = known_hosts_name(ep.host, ep.port)
    if verdict.status == "changed":
        return host_key_changed(host.name, name, key, verdict.recorded, verdict.where)
    return HostKeyUnknown(
        f"the host key of {host.name} ({name}) is not known: {key.get_algorithm()} "
        f"{fingerprint(key)}",
        "make sure this is the host's real key (ask its administrator, or run "
        f"`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` there), then accept it with "
        f"`orbit remote add {host.name} {host.target} --accept-new-host-key`",
    )


def host_key_changed(
    name: str, where: str, key: Any, recorded: Sequence[str], files: Sequence[str]
) -> HostKeyChanged:
    return HostKeyChanged(
        f"the host key of {name} ({where}) has CHANGED: it now presents {fingerprint(key)}, but "
        f"{', '.join(files)} record{'s' if len(files) == 1 else ''} {', '.join(recorded)}. "
        "Orbit refuses to connect",
        "someone may be intercepting the connection; if the host was really reinstalled, remove "
        f"the old key (`ssh-keygen -R '{where}'`, or `orbit remote remove {name}` for a key Orbit "
        "recorded) and add the host again",
    )


class Session:
    """An open connection: commands, SFTP, and the remote folders Orbit uses."""

    def __init__(self, conn: Any, host: RemoteHost, ep: Endpoint) -> None:
        self.conn = conn
        self.host = host
        self.endpoint = ep
        self._sftp: Any = None
        self._home: str | None = None

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._sftp is not None:
                self._sftp.exit()
            self.conn.close()
            await asyncio.wait_for(self.conn.wait_closed(), 5)

    @contextlib.asynccontextmanager
    async def guard(self, what: str) -> AsyncIterator[None]:
        """Turn a connection lost during ``what`` into ``ConnectionDropped``."""
        lib = asyncssh()
        try:
            yield
        except RemoteError:
            raise
        except (
            lib.ConnectionLost,
            lib.DisconnectError,
            lib.ChannelOpenError,
            BrokenPipeError,
            ConnectionResetError,
            EOFError,
        ) as e:
            raise dropped(self.host, what, e) from None

    async def sftp(self) -> Any:
        if self._sftp is None:
            async with self.guard("opening SFTP"):
                self._sftp = await self.conn.start_sftp_client()
        return self._sftp

    async def home(self) -> str:
        if self._home is None:
            sftp = await self.sftp()
            async with self.guard("finding the home folder"):
                self._home = await sftp.realpath(".")
        return self._home

    async def orbit_dir(self, *parts: str) -> str:
        return "/".join([await self.home(), ORBIT_DIR, *parts])

    async def run(
        self,
        argv: Sequence[str] | str,
        *,
        what: str,
        input: str | bytes | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Run a command on the remote (``argv`` quoted for its shell) and return its result."""
        cmd = argv if isinstance(argv, str) else shlex.join(argv)
        async with self.guard(what):
            result = await self.conn.run(cmd, input=input, check=False, timeout=timeout)
        if check and result.exit_status != 0:
            raise self.failure(what, str(result.stderr or "") + str(result.stdout or ""))
        return result

    async def stream(
        self,
        command: str,
        *,
        what: str,
        on_line: Callable[[str], None],
        input: str | None = None,
    ) -> tuple[int, str]:
        """Run ``command``, passing each line it prints (stdout and stderr) to ``on_line`` as it
        comes; returns the exit status and the output."""
        lines: list[str] = []

        async def pump(stream: Any) -> None:
            async for line in stream:
                text = str(line).rstrip("\n")
                lines.append(text)
                on_line(text)

        async with self.guard(what):
            proc = await self.conn.create_process(command, input=input)
            await asyncio.gather(pump(proc.stdout), pump(proc.stderr))
            result = await proc.wait(check=False)
        status = result.exit_status if result.exit_status is not None else -1
        return status, "\n".join(lines)

    def failure(self, what: str, output: str) -> RemoteError:
        """The error for ``what`` failing with ``output`` on the remote (disk full said so)."""
        if any(s in output for s in _NOSPACE):
            return disk_full(self.host, what)
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        tail = " ".join(lines[-6:])[:800] or "no output"
        return RemoteCommandFailed(
            f"{what} failed on {self.host.name}: {tail}",
            "see the message from the remote above; fix it there and try again",
        )

    async def sftp_error(self, what: str, err: Exception, path: str) -> RemoteError:
        """An SFTP failure as what it is: disk full (ENOSPC shows as a plain failure), no
        permission, or something else."""
        lib = asyncssh()
        code = getattr(err, "code", None)
        if code == lib.FX_PERMISSION_DENIED:
            return RemoteError(
                f"{what}: permission denied on {self.host.name} ({path})",
                "check the owner and mode of that path on the remote",
            )
        if code in (lib.FX_FAILURE, getattr(lib, "FX_NO_SPACE_ON_FILESYSTEM", -1)):
            with contextlib.suppress(Exception):
                sftp = await self.sftp()
                folder = path.rsplit("/", 1)[0] or "/"
                vfs = await sftp.statvfs(folder)
                if vfs.bavail * vfs.frsize < 1024 * 1024 or vfs.favail == 0:
                    return disk_full(self.host, what)
        return RemoteError(f"{what} failed on {self.host.name} ({path}): {err}", None)


def disk_full(host: RemoteHost, what: str) -> RemoteDiskFull:
    return RemoteDiskFull(
        f"the disk of {host.name} is full: no space left while {what}",
        f"free space on {host.name} (`df -h ~` there shows how much is left; Orbit's copies "
        f"are under ~/{ORBIT_DIR}) and try again",
    )


def dropped(host: RemoteHost, what: str, err: BaseException) -> ConnectionDropped:
    reason = str(err) or type(err).__name__
    return ConnectionDropped(
        f"the connection to {host.name} was lost while {what} ({reason})",
        "check the network; run the command again once the host answers (running kernels "
        "reconnect by themselves)",
    )
