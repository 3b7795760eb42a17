"""Adding hosts (``orbit remote add``): host keys are never accepted silently, a changed key is
refused, a refused login or an unreachable host is a clear error, and nothing is recorded unless
everything worked."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Orbit
from tests.support.sshhost import SshHost, give_key

pytestmark = pytest.mark.integration


def _profile(client: Orbit) -> Path:
    return client.home / "profiles" / "default"


def test_an_unknown_host_key_is_refused_without_an_explicit_accept(client, ssh_host: SshHost):
    give_key(client.user_home, ssh_host)
    r = client.run("remote", "add", "lab", ssh_host.url)
    assert r.returncode == 1
    assert ssh_host.host_key_fingerprint() in r.stderr  # shown, so it can be checked
    assert "was not accepted; nothing was recorded" in r.stderr
    assert "--accept-new-host-key" in r.stderr
    assert not (_profile(client) / "remotes.toml").exists()
    assert not (_profile(client) / "known_hosts").exists()


def test_accepting_the_key_records_it_for_the_profile(client, ssh_host: SshHost):
    give_key(client.user_home, ssh_host)
    r = client.run("remote", "add", "lab", ssh_host.url, "--accept-new-host-key")
    assert r.returncode == 0, r.stderr
    fingerprint = ssh_host.host_key_fingerprint()
    assert f"recorded the host key {fingerprint}" in r.stdout
    assert f"({os.uname().sysname} {os.uname().machine})" in r.stdout  # what the host is
    known = (_profile(client) / "known_hosts").read_text()
    assert known == ssh_host.host_key_line()
    assert oct((_profile(client) / "known_hosts").stat().st_mode & 0o777) == "0o600"
    listed = json.loads(client.run("remote", "list", "--json").stdout)
    assert [(h["name"], h["engine"], h["url"]) for h in listed] == [
        ("lab", "ssh:lab", ssh_host.url)
    ]
    # A second add of the same name is refused; the first is unchanged.
    r = client.run("remote", "add", "lab", ssh_host.url)
    assert r.returncode == 2 and "exists already" in r.stderr

    r = client.run("remote", "remove", "lab")
    assert r.returncode == 0 and "removed its host key" in r.stdout
    assert (_profile(client) / "known_hosts").read_text() == ""
    assert json.loads(client.run("remote", "list", "--json").stdout) == []


def test_a_key_the_user_already_trusts_needs_no_question(client, ssh_host: SshHost):
    give_key(client.user_home, ssh_host)
    (client.user_home / ".ssh" / "known_hosts").write_text(ssh_host.host_key_line())
    r = client.run("remote", "add", "lab", ssh_host.url)
    assert r.returncode == 0, r.stderr
    assert "recorded the host key" not in r.stdout
    assert not (_profile(client) / "known_hosts").exists()


def test_a_key_in_the_users_ssh_agent_logs_in(
    client, ssh_host: SshHost, tmp_path: Path, monkeypatch
):
    """No key in ~/.ssh: the one the user's agent holds (``SSH_AUTH_SOCK``) is used."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert agent.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", "-q", str(ssh_host.client_key)], check=True, capture_output=True)
        r = client.run("remote", "add", "lab", ssh_host.url, "--accept-new-host-key")
        assert r.returncode == 0, r.stderr
        assert not (client.user_home / ".ssh" / "id_ed25519").exists()
    finally:
        agent.terminate()
        agent.wait()


def test_the_users_ssh_config_names_the_host(client, ssh_host: SshHost):
    give_key(client.user_home, ssh_host)
    (client.user_home / ".ssh" / "config").write_text(
        f"Host gpu-box\n  HostName {ssh_host.address}\n  User {ssh_host.user}\n"
    )
    r = client.run("remote", "add", "gpu", "ssh://gpu-box", "--accept-new-host-key")
    assert r.returncode == 0, r.stderr
    # Recorded under the address the config resolves to, as OpenSSH would.
    assert (_profile(client) / "known_hosts").read_text() == ssh_host.host_key_line()
    r = client.run("remote", "sync", "gpu", str(client.user_home / ".ssh"), "--dry-run")
    assert r.returncode == 0, r.stderr


def test_the_prompt_decides_and_no_means_nothing_is_recorded(client, ssh_host: SshHost):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import enroll
    from jupyter_orbit.remote.errors import HostKeyUnknown
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.url import parse_ssh_url

    give_key(client.user_home, ssh_host)
    store = HostStore(_profile(client))
    host = RemoteHost("lab", parse_ssh_url(ssh_host.url))
    shown = []

    def no(key):
        shown.append(key)
        return False

    with pytest.raises(HostKeyUnknown):
        run_sync(enroll(store, host, no))
    assert shown[0].fingerprint == ssh_host.host_key_fingerprint()
    assert shown[0].algorithm == "ssh-ed25519" and shown[0].host == ssh_host.address
    assert store.hosts() == [] and not store.known_hosts.exists()
    done = run_sync(enroll(store, host, lambda key: True))
    assert done.key == "accepted" and store.get("lab").target == host.target


def test_a_changed_host_key_is_refused(client, fresh_ssh_host: SshHost):
    host = fresh_ssh_host
    give_key(client.user_home, host)
    assert client.run("remote", "add", "lab", host.url, "--accept-new-host-key").returncode == 0
    project = client.user_home / "project"
    project.mkdir()
    assert client.run("remote", "sync", "lab", str(project)).returncode == 0
    old = host.host_key_fingerprint()
    host.new_host_key()
    r = client.run("remote", "sync", "lab", str(project))
    assert r.returncode == 1
    assert "has CHANGED" in r.stderr and host.host_key_fingerprint() in r.stderr and old in r.stderr
    assert "Orbit refuses to connect" in r.stderr and "ssh-keygen -R" in r.stderr
    # Even an explicit accept does not replace a recorded key: it has to be removed first.
    r = client.run("remote", "add", "lab2", host.url, "--accept-new-host-key")
    assert r.returncode == 1 and "has CHANGED" in r.stderr
    assert "lab2" not in (_profile(client) / "remotes.toml").read_text()


def test_a_refused_login_is_a_clear_error(client, ssh_host: SshHost, tmp_path: Path):
    ssh = client.user_home / ".ssh"
    ssh.mkdir(mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")], check=True
    )  # a key the host does not know
    r = client.run("remote", "add", "lab", ssh_host.url, "--accept-new-host-key")
    assert r.returncode == 1
    assert "refused every key offered" in r.stderr
    assert "ssh-add" in r.stderr and "authorized_keys" in r.stderr
    assert not (_profile(client) / "remotes.toml").exists()
    assert not (_profile(client) / "known_hosts").exists()  # nothing kept from a failed add


def test_an_unreachable_host_is_a_clear_error(client, ssh_host: SshHost):
    give_key(client.user_home, ssh_host)
    r = client.run("remote", "add", "lab", f"ssh://{ssh_host.user}@{ssh_host.address}:2222")
    assert r.returncode == 1
    assert (
        f"cannot reach the remote host lab at {ssh_host.user}@[{ssh_host.address}]:2222" in r.stderr
    )
    assert "an SSH server listens there" in r.stderr
    assert not (_profile(client) / "remotes.toml").exists()
