"""`orbit hub up --swarm` for real: this machine's Docker engine made a single-node swarm's
manager, the users' image pushed to a registry (Debian's docker-registry on loopback) and
pulled from it, a user's server run as a swarm service and reached through the hub's proxy;
`orbit hub down --leave-swarm` leaves the engine as it found it.

Slow (a minute: a second hub, a registry, a swarm service) and it turns this machine's engine
into a swarm manager for that minute: CI runs it in a step of its own, after the main run, where
no other test's containers share the engine (``ORBIT_SLOW_TESTS=1``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Orbit, make_notebook
from tests.hub.test_runner import api, spawn

pytestmark = [pytest.mark.slow, pytest.mark.integration]
PROFILE = "swarmtest"
# `registry`: Debian's docker-registry on 127.0.0.1 (tests/support/registry.py)


@pytest.fixture
def swarm_free(docker_client: Any) -> Iterator[None]:
    """This machine's engine in no swarm before the test, and in none after it (whatever
    happens), with no network of the swarm's left behind."""
    if docker_client.info()["Swarm"]["LocalNodeState"] != "inactive":
        pytest.skip("the Docker engine is in a swarm already: not touching it")
    networks = {n.name for n in docker_client.networks.list()}
    try:
        yield
    finally:
        if docker_client.info()["Swarm"]["LocalNodeState"] != "inactive":
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)
        for net in docker_client.networks.list():
            if net.name in ("docker_gwbridge", "ingress") and net.name not in networks:
                subprocess.run(["docker", "network", "rm", net.name], capture_output=True)


def test_a_hub_on_a_single_node_swarm(
    tmp_path: Path, docker_base: str, docker_client: Any, registry: str, swarm_free: None
):
    from jupyter_orbit.hub.runner import compose_command

    try:
        compose_command()
    except Exception as e:
        pytest.skip(f"Docker Compose is needed to run the hub: {e}")
    orbit = Orbit(tmp_path / "orbit-home", tmp_path / "home")
    orbit.user_home.mkdir()
    project = tmp_path / "project"
    make_notebook(project / "analysis.ipynb", "print(1)")
    try:
        r = orbit.run(
            "hub", "up", str(project), "--swarm", "--registry", registry, "--json",
            "--profile", PROFILE, timeout=3600,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        # This engine is the swarm's manager, on loopback only, and says how others join.
        swarm = docker_client.info()["Swarm"]
        assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is True
        assert info["join"].startswith("docker swarm join --token SWMTKN-")
        assert info["join"].endswith(" 127.0.0.1:2377")
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        assert "127.0.0.1:2377" in listening and "0.0.0.0:2377" not in listening
        assert info["join"] not in (Path(info["folder"]) / "hub.json").read_text()
        # The users' image is in the registry.
        catalog = httpx.get(f"http://{registry}/v2/_catalog").json()
        assert catalog["repositories"] == ["orbit-user"]
        net = docker_client.networks.get(f"orbit-hub-{PROFILE}")
        assert net.attrs["Driver"] == "overlay" and net.attrs["Attachable"] is True

        # Nodes get the image from the registry: this one has only its own tag left.
        pushed = f"{registry}/orbit-user:{PROFILE}"
        docker_client.images.remove(pushed)
        spawn(info, "ada")
        pulled = docker_client.images.get(pushed)  # pulled back from the registry for the task
        assert any(
            d.startswith(f"{registry}/orbit-user@sha256:") for d in pulled.attrs["RepoDigests"]
        )
        [service] = docker_client.services.list(
            filters={"label": f"org.jupyter.orbit.hub={PROFILE}"}
        )
        spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert spec["Image"].split("@")[0] == pushed  # the registry's reference
        assert spec["CapabilityDrop"] == ["ALL"]
        assert spec["Mounts"] == [
            {"Type": "volume", "Source": f"orbit-hub-{PROFILE}-user-ada",
             "Target": "/home/jovyan/work"}
        ]  # fmt: skip
        assert not service.attrs.get("Endpoint", {}).get("Ports")  # nothing published
        with api(info) as c:
            assert c.get("user/ada/api/status").status_code == 200  # through the hub's proxy
        status = json.loads(orbit.run("hub", "status", "--json", "--profile", PROFILE).stdout)
        assert [s["name"] for s in status["services"]] == [service.name]
        # How the hub works, in a swarm too: a setting applied, ada's service untouched.
        r = orbit.run(
            "hub", "config", "set", "SwarmSpawner.mem_limit", "1G", "--profile", PROFILE,
            timeout=600,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        service.reload()
        assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == spec["Image"]
        with api(info) as c:
            assert c.get("user/ada/api/status").status_code == 200
    finally:
        down = orbit.run(
            "hub", "down", "--volumes", "--leave-swarm", "--profile", PROFILE, timeout=600
        )
    assert down.returncode == 0, down.stderr
    assert "docker swarm leave" in down.stdout
    assert docker_client.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert not docker_client.networks.list(names=[f"orbit-hub-{PROFILE}"])
