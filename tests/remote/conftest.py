"""Fixtures for remote hosts: a real sshd in a network namespace (or a skip saying why), and a
client side (HOME with the test key, an Orbit profile) that talks to it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.remote.hosts import HostStore, RemoteHost
from tests.conftest import Orbit
from tests.support.sshhost import SshHost, unavailable


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
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Orbit:
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

    store: HostStore
    host: RemoteHost
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
def lab(client: Orbit, ssh_host: SshHost) -> Lab:
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import enroll
    from jupyter_orbit.remote.url import parse_ssh_url

    give_key(client.user_home, ssh_host)
    store = HostStore(client.home / "profiles" / "default")
    run_sync(enroll(store, RemoteHost("lab", parse_ssh_url(ssh_host.url)), lambda key: True))
    return Lab(store, store.get("lab"), ssh_host)
