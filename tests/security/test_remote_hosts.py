"""Attacks on remote hosts that Orbit defends against: a host key swapped under it (a
man in the middle), an SSH config that turns checking off, secrets sent along with a project,
links that lead out of it, and a remote that tries to write outside the project on a pull."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sshhost import give_key

pytestmark = pytest.mark.integration


def test_a_config_that_turns_host_key_checking_off_changes_nothing(client, ssh_host):
    give_key(client.user_home, ssh_host)
    (client.user_home / ".ssh" / "config").write_text(
        "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
    )
    r = client.run("remote", "add", "lab", ssh_host.url)
    assert r.returncode == 1 and "was not accepted" in r.stderr
    assert not (client.home / "profiles" / "default" / "known_hosts").exists()


def test_a_kernel_is_not_started_on_a_host_whose_key_changed(client, fresh_ssh_host, tmp_path):
    from tests.conftest import make_notebook

    host = fresh_ssh_host
    give_key(client.user_home, host)
    assert client.run("remote", "add", "lab", host.url, "--accept-new-host-key").returncode == 0
    host.new_host_key()  # as an impostor at the same address would present
    # Through the pipeline: `orbit run` of a notebook that runs on lab.
    nb = make_notebook(
        tmp_path / "proj" / "nb.ipynb", "1", metadata={"orbit": {"engine": "ssh:lab"}}
    )
    (tmp_path / "proj" / "data.csv").write_text("secret,data\n")
    r = client.run("run", str(nb), "--yes", "--as-of", "2025-06-01")
    assert r.returncode == 1
    assert "has CHANGED" in r.stderr and "Orbit refuses to connect" in r.stderr
    # And the kernel's own process, were it started with an environment noted earlier.
    conn = tmp_path / "kernel.json"
    conn.write_text(json.dumps({"ip": "127.0.0.1", "transport": "tcp", "key": "s3cret",
                                "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
                                "control_port": 4, "hb_port": 5}))  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit.remote.kernel_proxy",
         "--profile-root", str(client.home / "profiles" / "default"), "--host", "lab",
         "--python", "/usr/bin/python3", "--env-prefix", "/nowhere",
         "--connection-file", str(conn), "--cwd", "/tmp", "--",
         "/usr/bin/python3", "-m", "ipykernel_launcher", "-f", str(conn)],
        env=client.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1
    assert "has CHANGED" in r.stderr and "Orbit refuses to connect" in r.stderr
    # Nothing reached the impostor: no project copy, no environment, no kernel folder, no key.
    cache = host.home / ".cache" / "orbit-remote"
    assert not any((cache / d).exists() for d in ("projects", "envs", "kernels"))


def test_secrets_and_links_out_of_the_project_never_reach_the_host(lab, client, tmp_path: Path):
    p = tmp_path / "proj"
    (p / ".aws").mkdir(parents=True)
    (p / ".aws" / "credentials").write_text("[default]\naws_secret_access_key=x\n")
    (p / ".env").write_text("TOKEN=x\n")
    (p / "deploy_id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (p / "id_rsa").write_text("-----BEGIN RSA PRIVATE KEY-----\n")
    (p / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (p / ".git").mkdir()
    (p / ".git" / "config").write_text("[remote]\n  url = https://token@example.org/x\n")
    (p / "my-key").symlink_to(client.user_home / ".ssh" / "id_ed25519")  # the user's own key
    (p / "etc").symlink_to("/etc")
    (p / "nb.ipynb").write_text("{}")
    r = client.run("remote", "sync", "lab", str(p))
    assert r.returncode == 0, r.stderr
    there = Path(r.stderr.split(" -> lab:")[-1].strip())
    found = sorted(str(f.relative_to(there)) for f in there.rglob("*"))
    assert found == ["nb.ipynb"]
    for name in (".aws/", ".env", "id_rsa", "server.pem", ".git/"):
        assert f"excluded: {name}  (secret" in r.stdout or f"excluded: {name}  (version" in r.stdout
    assert "excluded: deploy_id_ed25519  (secret (a private key))" in r.stdout
    assert "refused: my-key  (link leading outside the project)" in r.stdout
    assert "refused: etc  (link leading outside the project)" in r.stdout


def test_a_pull_never_writes_through_a_link_out_of_the_project(lab, client, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    p = tmp_path / "proj"
    p.mkdir()
    (p / "nb.ipynb").write_text("{}")
    (p / "results").symlink_to(outside)
    r = client.run("remote", "sync", "lab", str(p))
    there = Path(r.stderr.split(" -> lab:")[-1].strip())
    # The remote (or a kernel there) makes a real folder where the link is here.
    lab.machine.as_user(f"mkdir -p {there}/results && echo pwned > {there}/results/evil.sh")
    r = client.run("remote", "pull", "lab", str(p))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "refusing to write results/evil.sh" in r.stderr
    assert list(outside.iterdir()) == []
