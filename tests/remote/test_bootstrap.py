"""uv on the remote: the host's own, else Orbit's copy, else a copy of the uv Orbit runs here
(hash-checked, tried, then renamed into place), else a clear error naming both platforms."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from jupyter_orbit.remote.bootstrap import can_copy, local_platform, not_copyable, parse_probe


def test_probe_output_is_read():
    p = parse_probe(
        "uname=Linux x86_64\npath=/usr/local/bin/uv\nown=/home/a/.cache/orbit-remote/bin/uv\n"
    )
    assert (p.uname, p.on_path, p.orbit_copy) == (
        "Linux x86_64",
        "/usr/local/bin/uv",
        "/home/a/.cache/orbit-remote/bin/uv",
    )
    p = parse_probe("uname=Darwin arm64\npath=\n")
    assert p.on_path is None and p.orbit_copy is None


@pytest.mark.parametrize(
    ("here", "there", "ok"),
    [
        ("Linux x86_64", "Linux x86_64", True),
        ("Linux x86_64", "Linux  x86_64", True),
        ("Linux x86_64", "Linux aarch64", False),
        ("Linux x86_64", "Darwin x86_64", False),
        ("Linux x86_64", "", False),
    ],
)
def test_a_copy_runs_only_where_uname_says_the_same(here, there, ok):
    assert can_copy(here, there) is ok


def test_the_error_names_both_platforms_and_the_fix():
    e = not_copyable("gpu", "Linux x86_64", "Linux aarch64")
    assert "this machine is Linux x86_64, gpu is Linux aarch64" in e.message
    assert "install uv on gpu" in e.hint and "~/.cache/orbit-remote/bin/uv" in e.hint


def _ensure(lab, **kw):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.bootstrap import ensure_uv
    from jupyter_orbit.uvcli import uv_bin

    async def go():
        async with lab.session() as s:
            return await ensure_uv(s, Path(uv_bin()), **kw)

    return run_sync(go())


@pytest.fixture
def fresh_lab(client, fresh_ssh_host):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import enroll
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.url import parse_ssh_url
    from tests.support.sshhost import Lab, give_key

    give_key(client.user_home, fresh_ssh_host)
    store = HostStore(client.home / "profiles" / "default")
    host = RemoteHost("lab", parse_ssh_url(fresh_ssh_host.url))
    run_sync(enroll(store, host, lambda key: True))
    return Lab(store, store.get("lab"), fresh_ssh_host)


@pytest.mark.integration
def test_orbits_uv_is_copied_to_a_host_without_one(fresh_lab):
    from jupyter_orbit.uvcli import uv_bin

    copy = fresh_lab.machine.home / ".cache" / "orbit-remote" / "bin" / "uv"
    assert fresh_lab.machine.as_user("command -v uv").returncode != 0
    first = _ensure(fresh_lab)
    assert first.how == "copied" and first.path == str(copy)
    local = Path(uv_bin()).read_bytes()
    assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(local).digest()
    assert (
        first.version
        == subprocess.run([uv_bin(), "--version"], capture_output=True, text=True).stdout.strip()
    )
    assert copy.stat().st_uid == fresh_lab.machine.uid and copy.stat().st_mode & 0o111
    assert not list(copy.parent.glob("*.tmp"))
    before = copy.stat().st_mtime_ns
    second = _ensure(fresh_lab)
    assert second.how == "orbit" and copy.stat().st_mtime_ns == before  # not sent again


@pytest.mark.integration
def test_a_host_of_another_platform_gets_a_clear_error(fresh_lab):
    from jupyter_orbit.remote.errors import UvUnavailable

    other = "Linux riscv64" if os.uname().machine != "riscv64" else "Linux x86_64"
    with pytest.raises(UvUnavailable) as e:
        _ensure(fresh_lab, platform=other)  # as if this machine were another kind
    assert f"this machine is {other}, lab is {local_platform()}" in e.value.message
    assert not (fresh_lab.machine.home / ".cache" / "orbit-remote" / "bin" / "uv").exists()


@pytest.mark.integration
def test_a_full_remote_disk_is_reported_as_such(fresh_lab):
    from jupyter_orbit.remote.errors import RemoteDiskFull

    folder = fresh_lab.machine.home / ".cache" / "orbit-remote" / "bin"
    fresh_lab.machine.limit_disk(folder, "1m")  # uv is tens of megabytes
    with pytest.raises(RemoteDiskFull) as e:
        _ensure(fresh_lab)
    assert "the disk of lab is full" in e.value.message and "copying uv" in e.value.message
    assert "df -h" in e.value.hint
    seen = fresh_lab.machine.sees(f"ls -A '{folder}'; df -k '{folder}' | tail -1")
    assert seen.stdout.split()[0] == "orbit-test"  # the small disk, empty: no partial copy
