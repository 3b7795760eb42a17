"""A second machine for tests: a network namespace running Debian's OpenSSH server.

    host = SshHost(tmp_path); host.start()
    ... connect to ssh://<host.user>@<host.address> with host.client_key ...
    host.cut(); host.restore()      # take the link down and up again
    host.stop()                     # namespace, processes, user and mounts all gone

The namespace is joined to this machine by a veth pair with private addresses of the test's own
(10.213.N.1 here, 10.213.N.2 there, a /30 no interface of this machine uses); nothing else on the
machine (interfaces, routes, firewall) is touched. sshd runs inside the namespace, in a UTS
namespace of its own (so the "remote" has its own host name), on port 22, with its own config
file and ed25519 host key: no PAM, no passwords, public keys only, one allowed user. That user is
created for the test, has a home folder of its own under the test's folder and a PATH without uv.

Everything is removed by ``stop`` (also after a failed start), and namespaces or users left
behind by a test process that was killed are removed by the next run (their names carry the pid
of the process that made them).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SSHD = "/usr/sbin/sshd"
_PREFIX = "orbt"  # namespaces orbt-<pid>-<n>, users orbt<pid>u<n>


def unavailable() -> str | None:
    """Why test hosts cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "test SSH hosts need root (ip netns, useradd)"
    for tool in ("ip", "useradd", "userdel", "unshare", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"test SSH hosts need {tool} (apt-get install iproute2 openssh-client passwd)"
    if not Path(SSHD).exists():
        return "test SSH hosts need Debian's OpenSSH server (apt-get install openssh-server)"
    probe = f"{_PREFIX}-probe-{os.getpid()}"
    r = _run(["ip", "netns", "add", probe], check=False)
    if r.returncode != 0:
        return f"`ip netns add` does not work here: {r.stderr.strip()}"
    _run(["ip", "netns", "del", probe], check=False)
    return None


def _run(cmd: list[str], *, check: bool = True, **kw: object) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip() or r.stdout.strip()}")
    return r


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: killed, only not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def remove_leftovers() -> None:
    """Namespaces and users of test processes that are gone (killed before their teardown)."""
    for name in _run(["ip", "netns", "list"], check=False).stdout.split():
        m = re.fullmatch(rf"{_PREFIX}-(\d+)-\d+", name)
        if m and not _alive(int(m.group(1))):
            _kill_namespace(name)
    for line in Path("/etc/passwd").read_text().splitlines():
        user = line.split(":", 1)[0]
        m = re.fullmatch(rf"{_PREFIX}(\d+)u\d+", user)
        if m and not _alive(int(m.group(1))):
            _kill_user_processes(int(line.split(":")[2]))
            _run(["userdel", user], check=False)


def _kill_namespace(name: str) -> None:
    pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(int(p)) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    _run(["ip", "netns", "del", name], check=False)


def _kill_user_processes(uid: int) -> None:
    """Every process running as ``uid`` (the test user's: kernels it left detached)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid == uid:
                os.kill(int(proc.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def _free_subnet() -> int:
    used = _run(["ip", "-4", "-o", "addr"], check=False).stdout
    choices = [n for n in range(256) if f"10.213.{n}." not in used]
    return random.choice(choices)


class SshHost:
    _count = 0

    def __init__(self, base: Path) -> None:
        SshHost._count += 1
        n = SshHost._count
        pid = os.getpid()
        self.base = base
        self.netns = f"{_PREFIX}-{pid}-{n}"
        self.user = f"{_PREFIX}{pid}u{n}"
        self.hostname = f"orbit-remote-{n}"
        tag = secrets.token_hex(4)
        self.veth_here, self.veth_there = f"ob{tag}h", f"ob{tag}n"
        self.subnet = -1
        self.home = base / "home" / self.user
        self.client_key = base / "client" / "id_ed25519"
        self.host_key = base / "sshd" / "ssh_host_ed25519_key"
        self.config = base / "sshd" / "sshd_config"
        self.log = base / "sshd" / "sshd.log"
        self.sshd: subprocess.Popen | None = None
        self.served = 0
        self.uid = -1

    # -- addresses --

    @property
    def address(self) -> str:
        return f"10.213.{self.subnet}.2"

    @property
    def gateway(self) -> str:
        return f"10.213.{self.subnet}.1"

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@{self.address}"

    def host_key_line(self) -> str:
        """This host's key as a known_hosts line."""
        kind, key = Path(str(self.host_key) + ".pub").read_text().split()[:2]
        return f"{self.address} {kind} {key}\n"

    def host_key_fingerprint(self) -> str:
        out = _run(["ssh-keygen", "-lf", str(self.host_key) + ".pub"]).stdout
        return out.split()[1]

    # -- life --

    def start(self) -> SshHost:
        remove_leftovers()
        try:
            self._network()
            self._user()
            self._keys()
            self._sshd()
        except BaseException:
            self.stop()
            raise
        return self

    def _network(self) -> None:
        from filelock import FileLock

        _run(["ip", "netns", "add", self.netns])
        _run(["ip", "link", "add", self.veth_here, "type", "veth", "peer", "name", self.veth_there])
        _run(["ip", "link", "set", self.veth_there, "netns", self.netns])
        # Test processes running side by side (pytest-xdist) pick their subnets in turn.
        with FileLock(Path(tempfile.gettempdir()) / "orbit-sshhost-subnets.lock"):
            self.subnet = _free_subnet()
            _run(["ip", "addr", "add", f"{self.gateway}/30", "dev", self.veth_here])
        _run(["ip", "link", "set", self.veth_here, "up"])
        ns = ["ip", "-n", self.netns]
        _run([*ns, "addr", "add", f"{self.address}/30", "dev", self.veth_there])
        _run([*ns, "link", "set", self.veth_there, "up"])
        _run([*ns, "link", "set", "lo", "up"])

    def _user(self) -> None:
        self.base.chmod(0o755)
        (self.base / "home").mkdir(mode=0o755, exist_ok=True)
        _run(["useradd", "-M", "-d", str(self.home), "-s", "/bin/sh", self.user])
        _run(["usermod", "-p", "*", self.user])  # no password, not locked (sshd without PAM)
        self.uid = int(_run(["id", "-u", self.user]).stdout)
        (self.home / ".ssh").mkdir(parents=True, mode=0o700)
        self.home.chmod(0o755)

    def _keys(self) -> None:
        self.client_key.parent.mkdir(mode=0o700)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "orbit-test-client",
              "-f", str(self.client_key)])  # fmt: skip
        self.authorize(Path(str(self.client_key) + ".pub").read_text())
        self.host_key.parent.mkdir(mode=0o755)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)])

    def authorize(self, *public_keys: str) -> None:
        keys = self.home / ".ssh" / "authorized_keys"
        keys.write_text("".join(k.strip() + "\n" for k in public_keys))
        keys.chmod(0o600)
        _run(["chown", "-R", f"{self.user}:", str(self.home)])

    def _sshd_config(self) -> str:
        return "\n".join(
            [
                "Port 22",
                f"ListenAddress {self.address}",
                f"HostKey {self.host_key}",
                f"PidFile {self.base / 'sshd' / 'sshd.pid'}",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin no",
                f"AllowUsers {self.user}",
                "AllowTcpForwarding local",
                "X11Forwarding no",
                "PermitUserEnvironment no",
                "SetEnv PATH=/usr/bin:/bin",
                "ClientAliveInterval 5",
                "ClientAliveCountMax 3",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )

    def _sshd(self) -> None:
        self.config.write_text(self._sshd_config())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        _run([SSHD, "-t", "-f", str(self.config)])
        script = 'hostname "$1" && exec "$2" -D -f "$3" -E "$4"'
        self.sshd = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--uts", "sh", "-c", script, "sh",
             self.hostname, SSHD, str(self.config), str(self.log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        self.wait_reachable(15)

    def wait_reachable(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sshd is not None and self.sshd.poll() is not None:
                err = self.sshd.stderr.read().decode() if self.sshd.stderr else ""
                raise RuntimeError(f"sshd exited: {err} {self.log_text()}")
            with contextlib.suppress(OSError), socket.create_connection((self.address, 22), 1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"sshd at {self.address}:22 does not answer: {self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.sshd is not None:
            with contextlib.suppress(ProcessLookupError):
                self.sshd.kill()
            self.sshd.wait()
            if self.sshd.stderr:
                self.sshd.stderr.close()
            self.sshd = None
        _kill_namespace(self.netns)  # every process in it (sessions, detached kernels)
        if self.uid >= 0:
            _kill_user_processes(self.uid)
        _run(["ip", "link", "del", self.veth_here], check=False)  # gone with the namespace
        _run(["userdel", self.user], check=False)

    # -- what tests do to it --

    def cut(self) -> None:
        """Take the link down: the host stops answering (its processes keep running)."""
        _run(["ip", "link", "set", self.veth_here, "down"])

    def restore(self) -> None:
        _run(["ip", "link", "set", self.veth_here, "up"])
        self.wait_reachable(30)

    def forget_orbit(self) -> None:
        """As a host that never saw Orbit: nothing under ~/.cache/orbit-remote (no uv, no
        environments, no project copies)."""
        shutil.rmtree(self.home / ".cache" / "orbit-remote", ignore_errors=True)

    def new_host_key(self) -> None:
        """Give the host another key (as a reinstall would) and make sshd use it."""
        for f in (self.host_key, Path(str(self.host_key) + ".pub")):
            f.unlink()
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)])
        assert self.sshd is not None
        pid = int((self.base / "sshd" / "sshd.pid").read_text())
        os.kill(pid, signal.SIGHUP)  # sshd re-executes itself and reads its key again
        time.sleep(0.5)
        self.wait_reachable(15)

    def limit_disk(self, folder: Path, size: str) -> None:
        """Mount a small tmpfs of the user's at ``folder`` (under its home): a disk that fills.

        The mount is made in sshd's own mount namespace (``ip netns exec`` gave it one), so it
        is seen by the host's sessions only and goes away with sshd.
        """
        self.as_user(f"mkdir -p '{folder}'")
        _run([*self._in_sshd(), "mount", "-t", "tmpfs", "-o",
              f"size={size},mode=0700,uid={self.uid}", "orbit-test", str(folder)])  # fmt: skip

    def _in_sshd(self) -> list[str]:
        pid = (self.base / "sshd" / "sshd.pid").read_text().strip()
        return ["nsenter", "-t", pid, "-m"]

    def sees(self, command: str) -> subprocess.CompletedProcess:
        """Run a shell command as the test user, seeing the files as the host's sessions do."""
        return _run([*self._in_sshd(), "runuser", "-u", self.user, "--", "sh", "-c", command],
                    check=False)  # fmt: skip

    def as_user(self, command: str) -> subprocess.CompletedProcess:
        """Run a shell command as the test user inside the namespace."""
        return _run(
            ["ip", "netns", "exec", self.netns, "runuser", "-u", self.user, "--",
             "sh", "-c", command],
            check=False,
        )  # fmt: skip

    def user_processes(self) -> list[str]:
        """Command lines of the test user's processes."""
        out = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if proc.stat().st_uid == self.uid:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    out.append(cmd.strip())
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        return out

    def serve(self, folder: Path) -> str:
        """Serve ``folder`` over HTTP on the host's own loopback (a site's package mirror)."""
        import sys

        self.served += 1
        port = 8730 + self.served  # each mirror a port of its own in the host's namespace

        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, "-m", "http.server", str(port),
             "--bind", "127.0.0.1", "--directory", str(folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = _run(["ip", "netns", "exec", self.netns, sys.executable, "-c",
                      f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"],
                     check=False)  # fmt: skip
            if r.returncode == 0:
                return f"http://127.0.0.1:{port}/"
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the package mirror on {self.netns} did not start")


# -- fixtures (a pytest plugin: tests/conftest.py lists this module in pytest_plugins) ---------


def _host() -> Iterator[SshHost]:
    if reason := unavailable():
        pytest.skip(reason)
    # Not under pytest's tmp folder: the test user must be able to reach its home.
    base = Path(tempfile.mkdtemp(prefix="orbit-sshhost-", dir="/tmp"))
    host = SshHost(base)
    try:
        yield host.start()
    finally:
        host.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def ssh_host() -> Iterator[SshHost]:
    """One test host for the session (tests that change the host itself use fresh_ssh_host)."""
    yield from _host()


@pytest.fixture
def fresh_ssh_host() -> Iterator[SshHost]:
    yield from _host()


def give_key(home: Path, host: SshHost) -> Path:
    """Put the host's authorised client key where ssh (and asyncssh) look: ~/.ssh/id_ed25519."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ssh / "id_ed25519"
    shutil.copy(host.client_key, key)
    key.chmod(0o600)
    shutil.copy(str(host.client_key) + ".pub", ssh / "id_ed25519.pub")
    return key


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.conftest import Orbit

    """This machine's side, in process and for the CLI: ORBIT_HOME and HOME of the test's own,
    no SSH agent (only the keys in ~/.ssh count)."""
    o = Orbit(tmp_path / "orbit-home", tmp_path / "home")
    o.user_home.mkdir(parents=True)
    for k, v in o.env.items():
        if k.startswith(("ORBIT_", "HOME", "XDG_", "UV_")):
            monkeypatch.setenv(k, v)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("ORBIT_PROFILE", raising=False)
    os.environ.pop("SSH_AUTH_SOCK", None)
    return o


@dataclass
class Lab:
    """A host enrolled in the client's default profile as ``lab``."""

    store: Any  # HostStore
    host: Any  # RemoteHost
    machine: SshHost

    def session(self) -> Any:
        """An async context manager: a connected ``Session``."""
        from jupyter_orbit.remote.session import connect

        return _Connected(connect(self.host, self.store))


class _Connected:
    def __init__(self, pending: Any) -> None:
        self.pending = pending

    async def __aenter__(self) -> Any:
        self.session = await self.pending
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


@pytest.fixture
def lab(client: Any, ssh_host: SshHost) -> Lab:
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import enroll
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.url import parse_ssh_url

    give_key(client.user_home, ssh_host)
    store = HostStore(client.home / "profiles" / "default")
    run_sync(enroll(store, RemoteHost("lab", parse_ssh_url(ssh_host.url)), lambda key: True))
    return Lab(store, store.get("lab"), ssh_host)
