"""The SSH session: each failure a distinct error naming the host, with the fix."""

from __future__ import annotations

import time

import pytest

from jupyter_orbit.remote.errors import (
    ConnectionDropped,
    RemoteCommandFailed,
    RemoteDiskFull,
)
from jupyter_orbit.remote.hosts import RemoteHost
from jupyter_orbit.remote.session import Endpoint, Session
from jupyter_orbit.remote.url import SshTarget


def _offline_session() -> Session:
    ep = Endpoint("lab", "10.0.0.1", 22, "me", (), 0, 3)
    return Session(None, RemoteHost("lab", SshTarget("10.0.0.1", "me")), ep)


@pytest.mark.parametrize(
    "output",
    [
        "error: Failed to install: numpy (No space left on device (os error 28))",
        "cp: error writing 'x': No space left on device",
        "write failed: Disk quota exceeded",
    ],
)
def test_a_full_disk_is_told_apart_from_other_failures(output):
    err = _offline_session().failure("building the environment", output)
    assert isinstance(err, RemoteDiskFull)
    assert "the disk of lab is full" in err.message and "building the environment" in err.message


def test_other_failures_carry_the_remotes_message():
    err = _offline_session().failure("starting the kernel", "line 1\nTraceback\nValueError: bad\n")
    assert type(err) is RemoteCommandFailed
    assert err.message == "starting the kernel failed on lab: line 1 Traceback ValueError: bad"


def _run(lab, coro_fn):
    from jupyter_orbit.remote._lib import run_sync

    async def go():
        async with lab.session() as s:
            return await coro_fn(s)

    return run_sync(go())


@pytest.mark.integration
def test_a_disk_that_fills_during_a_command_says_so(fresh_ssh_host, client):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import enroll
    from jupyter_orbit.remote.hosts import HostStore
    from jupyter_orbit.remote.url import parse_ssh_url
    from tests.support.sshhost import Lab, give_key

    host = fresh_ssh_host
    give_key(client.user_home, host)
    store = HostStore(client.home / "profiles" / "other")
    run_sync(enroll(store, RemoteHost("small", parse_ssh_url(host.url)), lambda k: True))
    small = Lab(store, store.get("small"), host)
    folder = host.home / ".cache" / "orbit-remote" / "projects"
    host.limit_disk(folder, "1m")
    with pytest.raises(RemoteDiskFull) as e:
        _run(small, lambda s: s.run(f"head -c 2000000 /dev/zero > {folder}/big", what="writing"))
    assert "the disk of small is full: no space left while writing" in e.value.message

    # The same over SFTP, where the server reports only a "failure": Orbit looks at the disk.
    from jupyter_orbit.remote.sync import ProjectSync

    project = client.user_home / "big"
    project.mkdir()
    (project / "data.bin").write_bytes(b"\1" * 3_000_000)
    host.sees(f"rm -f {folder}/big")
    with pytest.raises(RemoteDiskFull) as e:
        _run(small, lambda s: ProjectSync(s, project).push())
    assert "sending data.bin" in e.value.message
    left = host.sees(f"find {folder} -name '.orbit-tmp-*'").stdout
    assert left == ""  # no partial file left behind


@pytest.mark.integration
def test_a_link_that_drops_mid_operation_is_connection_dropped(lab):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.session import connect

    async def go():
        s = await connect(lab.host, lab.store, keepalive=1, keepalive_count=2)
        try:
            await s.run("true", what="warming up")
            lab.machine.cut()
            started = time.monotonic()
            try:
                await s.run("sleep 30", what="running a long command")
            finally:
                lab.machine.restore()
            return time.monotonic() - started
        finally:
            await s.close()

    with pytest.raises(ConnectionDropped) as e:
        run_sync(go())
    assert "the connection to lab was lost while running a long command" in e.value.message
    assert "reconnect" in e.value.hint
