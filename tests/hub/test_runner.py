"""`orbit hub` for real: the compose confection runs with Docker Compose, JupyterHub spawns a
user's server in a container of the project's image, and a kernel runs through the proxy."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyter_orbit.hub.confection import read_env
from tests.conftest import Orbit, make_notebook, snapshot
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration
PROFILE = "hubtest"


@dataclass
class HubRun:
    orbit: Orbit
    project: Path
    info: dict


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, docker_base: str, docker_client: Any) -> Any:
    from jupyter_orbit.hub.runner import compose_command

    try:
        compose_command()
    except Exception as e:
        pytest.skip(f"Docker Compose is needed to run the hub: {e}")
    base = tmp_path_factory.mktemp("hub")
    orbit = Orbit(base / "orbit-home", base / "home")
    orbit.user_home.mkdir()
    project = base / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("six\n")
    (project / "data.txt").write_text("shared with every user\n")
    make_notebook(project / "analysis.ipynb", "import six; print(six.__version__)")
    r = orbit.run("hub", "up", str(project), "--json", "--profile", PROFILE, timeout=3600)
    assert r.returncode == 0, r.stderr
    yield HubRun(orbit, project, json.loads(r.stdout))
    orbit.run("hub", "down", "--volumes", "--profile", PROFILE, timeout=600)


def secrets_of(info: dict) -> dict[str, str]:
    return read_env(Path(info["env_file"]).read_text())


def api(info: dict) -> httpx.Client:
    token = secrets_of(info)["ORBIT_HUB_API_TOKEN"]
    return httpx.Client(
        base_url=info["url"], headers={"Authorization": f"token {token}"}, timeout=60
    )


def spawn(info: dict, user: str) -> float:
    """Start ``user``'s server; seconds until it answers through the proxy."""
    with api(info) as c:
        c.post(f"hub/api/users/{user}")
        started = time.monotonic()
        r = c.post(f"hub/api/users/{user}/server")
        assert r.status_code in (201, 202) or "already running" in r.text, r.text
        deadline = started + 300
        while time.monotonic() < deadline:
            try:
                if c.get(f"user/{user}/api/status", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"the server of {user} did not answer")


def test_files_secrets_and_loopback(hub: Any, docker_client: Any):
    info = hub.info
    folder = Path(info["folder"])
    compose = Path(info["compose_file"]).read_text()
    values = secrets_of(info)
    assert set(values) >= {"JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN", "ORBIT_HUB_PASSWORD"}
    for name in ("docker-compose.yml", "jupyterhub_config.py", "user.Dockerfile"):
        text = (folder / name).read_text()
        assert not any(v in text for v in values.values()), name
    assert Path(info["env_file"]).stat().st_mode & 0o777 == 0o600
    assert f"127.0.0.1:{info['port']}:8000" in compose
    hub_container = docker_client.containers.list(
        filters={"label": ["org.jupyter.orbit.role=hub", "org.jupyter.orbit.hub=" + PROFILE]}
    )[0]
    bindings = hub_container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert hub_container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    from jupyter_orbit.hub.runner import compose_command

    check = subprocess.run(
        [*compose_command(), "-f", str(folder / "docker-compose.yml"), "config", "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_a_user_gets_a_server_and_a_kernel_through_the_proxy(hub: Any, docker_client: Any):
    info = hub.info
    seconds = spawn(info, "alice")
    print(f"alice's server answered {seconds:.1f}s after the spawn request")
    token = secrets_of(info)["ORBIT_HUB_API_TOKEN"]
    server = Server(f"{info['url']}user/alice/", token)
    session = server.new_session("analysis.ipynb")

    async def run() -> Any:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info()
            return await k.execute(
                "import os, six, sys\n"
                "open('mine.txt', 'w').write('alice was here')\n"
                "print(open('data.txt').read().strip(), os.getuid(), sys.executable, six.__name__)"
            )

    reply = asyncio.run(run())
    assert reply.status == "ok", reply
    assert reply.stdout.split() == [
        "shared",
        "with",
        "every",
        "user",
        "1000",
        "/opt/orbit/env/bin/python",
        "six",
    ]
    user = docker_client.containers.get(f"orbit-hub-{PROFILE}-alice")
    hc = user.attrs["HostConfig"]
    assert hc["Privileged"] is False and hc["CapDrop"] == ["ALL"]
    assert user.attrs["Config"]["User"] in ("1000:1000", "")  # the image's own non-root user
    assert not any("sock" in m["Source"] for m in user.attrs["Mounts"])
    published = [b for b in user.attrs["NetworkSettings"]["Ports"].values() if b]
    assert not published  # reachable through the proxy only
    volume = [m for m in user.attrs["Mounts"] if m["Type"] == "volume"]
    assert [v["Name"] for v in volume] == [f"orbit-hub-{PROFILE}-user-alice"]

    # Each user has notebooks of their own: bob's volume does not have alice's file.
    spawn(info, "bob")
    bob = Server(f"{info['url']}user/bob/", token)
    names = {f["name"] for f in bob.get("/api/contents").json()["content"]}
    assert "analysis.ipynb" in names and "mine.txt" not in names


def test_login_with_the_generated_password(hub: Any):
    info = hub.info
    password = secrets_of(info)["ORBIT_HUB_PASSWORD"]
    with httpx.Client(base_url=info["url"], timeout=60) as c:
        c.get("hub/login")
        xsrf = c.cookies.get("_xsrf", "")
        wrong = c.post("hub/login", data={"username": "carol", "password": "nope", "_xsrf": xsrf})
        assert wrong.status_code in (200, 403) and "jupyterhub-session-id" not in wrong.cookies
        r = c.post("hub/login", data={"username": "carol", "password": password, "_xsrf": xsrf})
        assert r.status_code == 302, r.text[:300]
        assert c.get("hub/api/user").json()["name"] == "carol"


def test_status_and_logs(hub: Any):
    orbit, info = hub.orbit, hub.info
    spawn(info, "alice")
    status = json.loads(orbit.run("hub", "status", "--json", "--profile", PROFILE).stdout)
    assert status["running"] and status["url"] == info["url"]
    assert {"name": "alice", "server": True, "admin": False} in status["users"]
    logs = orbit.run("hub", "logs", "--tail", "50", "--profile", PROFILE)
    assert logs.returncode == 0 and "JupyterHub" in logs.stdout
    user_logs = orbit.run("hub", "logs", "--user", "alice", "--profile", PROFILE)
    assert "jupyterhub" in user_logs.stdout.lower()


def test_a_notebook_edit_rebuilds_one_layer(hub: Any, docker_client: Any):
    orbit, project = hub.orbit, hub.project
    image = f"orbit-user:{PROFILE}"
    before = docker_client.images.get(image).attrs["RootFS"]["Layers"]
    make_notebook(project / "analysis.ipynb", "print('edited')")
    r = orbit.run("hub", "up", str(project), "--json", "--profile", PROFILE, timeout=1800)
    assert r.returncode == 0, r.stderr
    after = docker_client.images.get(image).attrs["RootFS"]["Layers"]
    assert after[:-1] == before[:-1] and after[-1] != before[-1]


def test_a_failing_user_image_build_keeps_the_previous_image(hub: Any, docker_client: Any):
    orbit, project, info = hub.orbit, hub.project, hub.info
    image = f"orbit-user:{PROFILE}"
    kept = docker_client.images.get(image).id
    (project / "apt.txt").write_text("no-such-package-orbit\n")
    try:
        r = orbit.run("hub", "up", str(project), "--profile", PROFILE, timeout=1800)
    finally:
        (project / "apt.txt").unlink()
    assert r.returncode == 1
    assert "failed at step" in r.stderr and "no-such-package-orbit" in r.stderr
    assert docker_client.images.get(image).id == kept
    with api(info) as c:  # the running hub is untouched
        assert c.get("hub/api/users").status_code == 200


def test_an_edited_compose_file_is_kept_and_checked(hub: Any):
    orbit, project, info = hub.orbit, hub.project, hub.info
    compose = Path(info["compose_file"])
    original = compose.read_text()
    try:
        edited = original.replace("restart: unless-stopped", "restart: always")
        compose.write_text(edited)
        r = orbit.run("hub", "up", str(project), "--profile", PROFILE, timeout=1800)
        assert r.returncode == 0, r.stderr
        assert compose.read_text() == edited and "was edited" in r.stderr

        risky = edited.replace(
            "    restart: always\n", "    restart: always\n    privileged: true\n"
        )
        compose.write_text(risky)
        folder = snapshot(compose.parent)
        line = risky.splitlines().index("    privileged: true") + 1
        started = time.monotonic()
        r = orbit.run("hub", "up", str(project), "--profile", PROFILE, timeout=600)
        assert r.returncode == 2
        assert f"{compose}:{line}: services.hub.privileged asks for a privileged" in r.stderr
        assert "--allow-host-access" in r.stderr
        assert snapshot(compose.parent) == folder
        assert time.monotonic() - started < 60  # refused before building anything
    finally:
        compose.write_text(original)


def test_down_stops_everything(hub: Any, docker_client: Any):
    orbit, project, info = hub.orbit, hub.project, hub.info
    spawn(info, "dora")
    r = orbit.run("hub", "down", "--profile", PROFILE, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "orbit-hub-hubtest-dora" in r.stdout
    left = docker_client.containers.list(all=True, filters={"label": "org.jupyter.orbit.hub"})
    assert not [c for c in left if c.labels.get("org.jupyter.orbit.hub") == PROFILE]
    volumes = {v.name for v in docker_client.volumes.list()}
    assert f"orbit-hub-{PROFILE}-user-dora" in volumes  # notebooks are kept without --volumes
    status = json.loads(orbit.run("hub", "status", "--json", "--profile", PROFILE).stdout)
    assert not status["running"]
    r = orbit.run("hub", "up", str(project), "--json", "--profile", PROFILE, timeout=1800)
    assert r.returncode == 0, r.stderr  # and it comes back


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")
def test_people_can_run_the_file_themselves(hub: Any):
    """The confection is an ordinary compose file: `docker-compose ps` sees the hub."""
    info = hub.info
    folder = Path(info["folder"])
    r = subprocess.run(
        [
            "docker-compose",
            "-p",
            f"orbit-hub-{PROFILE}",
            "ps",
            "--services",
            "--filter",
            "status=running",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["hub"]
