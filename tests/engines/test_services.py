"""The service runner: what a compose service becomes for the Engine API (pure), and real
services on the real engine — started, reused, recreated when changed, waited for, reported
with their logs when they fail, and stopped by the watcher once their last kernel is gone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.ecosystems.base import Service, Services
from jupyter_orbit.engines.services import (
    LABEL_HOME,
    LEASE_SCRIPT,
    ServiceError,
    ServiceRunner,
    live_leases,
    plan,
    project_key,
)
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths
from tests.support.docker import _Print, wait_for


def group(root: Path, services: dict[str, dict], volumes: dict | None = None) -> Services:
    return Services(
        "compose",
        tuple(Service.of("compose", n, d) for n, d in services.items()),
        source=root / "compose.yaml",
        folder=root,
        root=root,
        base=root,
        volumes=volumes or {},
    )


def test_a_project_names_its_services_after_its_folder(tmp_path: Path):
    key = project_key(tmp_path / "My Analysis")
    assert (
        key.startswith("orbit-svc-my-analysis-") and len(key) == len("orbit-svc-my-analysis-") + 8
    )
    assert project_key(tmp_path / "My Analysis") == key
    assert project_key(tmp_path / "other" / "My Analysis") != key  # same name, another folder


def test_a_catalog_service_as_the_engine_creates_it(tmp_path: Path):
    g = group(
        tmp_path,
        {
            "db": {
                "image": "postgres:15",
                "command": "postgres -c fsync=off",
                "environment": ["POSTGRES_PASSWORD=x", "FROM_HOST"],
                "ports": ["127.0.0.1::5432", {"target": 9187, "host_ip": "127.0.0.1"}],
                "volumes": [
                    "db-data:/var/lib/postgresql/data",
                    "./init:/docker-entrypoint-initdb.d:ro",
                ],
                "healthcheck": {"test": "pg_isready", "interval": "1m30s", "retries": 5},
                "depends_on": ["cache"],
            },
            "cache": {"image": "redis:7", "expose": ["6379"]},
        },
    )
    [cache, db] = plan(g, key="k", home=Path("/home/o"))  # dependencies first
    assert cache.service.name == "cache" and db.container == "k-db"
    c = db.create
    assert c["command"] == ["postgres", "-c", "fsync=off"]
    assert c["environment"] == {"POSTGRES_PASSWORD": "x"}  # FROM_HOST is not set here
    assert c["ports"] == {"5432/tcp": ("127.0.0.1", None), "9187/tcp": ("127.0.0.1", None)}
    assert c["volumes"] == [
        "k_db-data:/var/lib/postgresql/data:rw",
        f"{tmp_path / 'init'}:/docker-entrypoint-initdb.d:ro",
    ]
    assert db.volumes == ("k_db-data",)
    assert c["healthcheck"] == {
        "test": ["CMD-SHELL", "pg_isready"],
        "interval": 90 * 10**9,
        "retries": 5,
    }
    assert db.ready_within == pytest.approx((90 + 30) * 6)  # start period 0, timeout 30 s
    assert c["security_opt"] == ["no-new-privileges"]
    assert c["labels"][LABEL_HOME] == "/home/o" and "privileged" not in c
    assert cache.ports == (6379,)


def test_keys_the_runner_does_not_know_are_refused_at_their_line(tmp_path: Path):
    g = group(tmp_path, {"db": {"image": "a", "secrets": ["pw"]}})
    g.line_of = lambda key: 7 if key == "services.db.secrets" else None
    with pytest.raises(InputError) as e:
        plan(g, key="k", home=tmp_path)
    assert e.value.message == "services.db.secrets: Orbit does not run services with 'secrets'"
    assert e.value.line == 7 and e.value.path == tmp_path / "compose.yaml"


def test_a_service_without_an_image_says_orbit_builds_none(tmp_path: Path):
    with pytest.raises(InputError, match=r"names no image .*docker compose build"):
        plan(group(tmp_path, {"app": {"build": "."}}), key="k", home=tmp_path)


def test_dependencies_must_exist_and_not_go_round(tmp_path: Path):
    with pytest.raises(InputError, match="no service 'nope'"):
        plan(group(tmp_path, {"a": {"image": "a", "depends_on": ["nope"]}}), key="k", home=tmp_path)
    circle = {"a": {"image": "a", "depends_on": ["b"]}, "b": {"image": "b", "depends_on": ["a"]}}
    with pytest.raises(InputError, match="in a circle"):
        plan(group(tmp_path, circle), key="k", home=tmp_path)


def test_external_and_named_volumes(tmp_path: Path):
    g = group(
        tmp_path,
        {"db": {"image": "a", "volumes": ["shared:/a", "given:/b", "mine:/c"]}},
        volumes={"shared": {"external": True}, "given": {"name": "exact-name"}, "mine": None},
    )
    [db] = plan(g, key="k", home=tmp_path)
    assert db.volumes == ("shared", "exact-name", "k_mine")
    assert db.external == ("shared",)  # never created (nor deleted) by Orbit


def test_env_files_are_read_from_inside_the_project(tmp_path: Path):
    (tmp_path / "db.env").write_text("A=1\nB='two'\n")
    g = group(tmp_path, {"db": {"image": "a", "env_file": "db.env", "environment": {"B": 3}}})
    [db] = plan(g, key="k", home=tmp_path)
    assert db.create["environment"] == {"A": "1", "B": "3"}


def test_a_lease_lives_as_long_as_its_process(tmp_path: Path):
    leases = tmp_path / "leases"
    probe = "import os, sys; print(os.getpid(), sorted(os.listdir(sys.argv[1])))"
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(LEASE_SCRIPT),
            str(leases),
            "--",
            sys.executable,
            "-c",
            probe,
            str(leases),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(maxsplit=1)
    pid = out[0]
    assert out[1].strip() == f"['{pid}']"  # the kernel kept the pid its lease names
    assert live_leases(leases) == []  # it is gone, and so is its lease
    assert not (leases / pid).exists()
    sleeper = subprocess.Popen(
        [sys.executable, "-I", "-S", str(LEASE_SCRIPT), str(leases), "--", "sleep", "30"]
    )
    try:
        wait_for(lambda: live_leases(leases) == [sleeper.pid], timeout=10, what="the lease")
        (leases / "999999999").write_text("1")  # a process that does not exist
        assert live_leases(leases) == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()


# -- on the real engine ------------------------------------------------------------------


def redis(**more: Any) -> dict[str, Any]:
    """The catalog's Redis (a Debian stand-in is built once if no registry serves redis:7)."""
    return {
        "image": "redis:7",
        "command": ["redis-server", "--appendonly", "yes"],
        "ports": ["127.0.0.1::6379"],
        "volumes": ["redis-data:/data"],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "1s", "retries": 30},
        **more,
    }


def ping(port: int) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64)


def test_services_start_are_reused_recreated_and_keep_their_data(
    tmp_path: Path, services_home: Path, docker_client: Any
):
    runner = ServiceRunner(Paths(services_home), docker_client)
    project = tmp_path / "project"
    project.mkdir()
    running = runner.up(group(project, {"cache": redis()}), _Print(), keep=True)
    [cache] = running.services
    assert cache.ports[0] == 6379 and ping(cache.published[6379]) == b"+PONG\r\n"
    container = docker_client.containers.get(cache.container)
    bindings = container.attrs["HostConfig"]["PortBindings"]["6379/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert container.attrs["HostConfig"]["Privileged"] is False
    assert "no-new-privileges" in container.attrs["HostConfig"]["SecurityOpt"]
    network = docker_client.networks.get(running.network)
    assert container.id in {c.id for c in network.containers}
    assert "cache" in container.attrs["NetworkSettings"]["Networks"][running.network]["Aliases"]

    # Data written survives a restart of the service, and a recreation.
    with __import__("socket").create_connection(("127.0.0.1", cache.published[6379])) as s:
        s.sendall(b"SET kept yes\r\n")
        assert s.recv(16) == b"+OK\r\n"
    again = runner.up(group(project, {"cache": redis()}), _Print(), keep=True)
    assert docker_client.containers.get(again.services[0].container).id == container.id  # reused
    runner.stop(running.key)
    changed = runner.up(
        group(project, {"cache": redis(environment={"X": "1"})}), _Print(), keep=True
    )
    new = docker_client.containers.get(changed.services[0].container)
    assert new.id != container.id  # changed: recreated, with the same volume
    with __import__("socket").create_connection(
        ("127.0.0.1", changed.services[0].published[6379])
    ) as s:
        s.sendall(b"GET kept\r\n")
        assert s.recv(16) == b"$3\r\nyes\r\n"
    [listed] = runner.listing()
    assert listed["service"] == "cache" and listed["status"] == "running"
    assert listed["health"] == "healthy" and listed["keep"] is True
    removed = runner.remove(running.key, ["cache"], volumes=[f"{running.key}_redis-data"])
    assert removed == [f"container {running.key}-cache", f"volume {running.key}_redis-data"]


def test_a_failing_service_is_reported_with_its_last_log_lines(
    tmp_path: Path, services_home: Path, docker_client: Any
):
    runner = ServiceRunner(Paths(services_home), docker_client)
    crash = redis(command=["sh", "-c", "echo the database exploded >&2; exit 3"])
    with pytest.raises(ServiceError) as e:
        runner.up(group(tmp_path, {"db": crash}), _Print(), keep=True)
    assert "the service db (redis:7) stopped (exit code 3)" in e.value.message
    assert "    the database exploded" in e.value.message
    assert "docker logs" in (e.value.hint or "")
    sick = redis(healthcheck={"test": ["CMD", "false"], "interval": "1s", "retries": 2})
    with pytest.raises(ServiceError, match="failed its health check"):
        runner.up(group(tmp_path, {"db": sick}), _Print(), keep=True)


def test_the_watcher_stops_the_services_after_their_last_kernel(
    tmp_path: Path, services_home: Path, docker_client: Any
):
    runner = ServiceRunner(Paths(services_home), docker_client)
    running = runner.up(group(tmp_path, {"cache": redis()}), _Print())
    container = docker_client.containers.get(running.services[0].container)
    kernel = subprocess.Popen(runner.lease_argv(running, ["sleep", "3"]))
    wait_for(lambda: live_leases(running.leases), timeout=10, what="the kernel's lease")
    kernel.wait()
    time.sleep(3)  # within the grace a restarting kernel gets
    container.reload()
    assert container.status == "running"
    wait_for(
        lambda: container.reload() or container.status == "exited",
        timeout=60,
        what="the watcher to stop the service",
    )
    docker_client.volumes.get(f"{running.key}_redis-data")  # the data stays
