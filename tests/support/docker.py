"""Fixtures for the container engine's tests: a real engine (or a skip saying why), Orbit's
base image built once per engine (it is named by its content, so later runs reuse it), and
helpers to look at the containers Orbit starts."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.engines.container_kernel import LABEL_KERNEL


class _Print:
    """Build progress on stderr (pytest shows it for failing tests)."""

    def step(self, action: str, detail: str = "") -> None:
        print(f"[{time.strftime('%X')}] {action} {detail}", file=sys.stderr, flush=True)

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    from jupyter_orbit.engines import dockerapi
    from jupyter_orbit.errors import OrbitError

    try:
        return dockerapi.connect(timeout=300)
    except OrbitError as e:
        pytest.skip(f"no container engine can be reached, so container tests cannot run: {e}")


@pytest.fixture(scope="session")
def docker_base(docker_client: Any) -> str:
    """Orbit's base image (from a registry, or debootstrap when none is reachable)."""
    from jupyter_orbit.engines.baseimage import ensure_base

    return ensure_base(docker_client, _Print())


@pytest.fixture(scope="session")
def session_as_of() -> str:
    """Now, to the second: a resolution date no earlier session used, so this session's PyPI
    layers are built for real (not found in the engine's cache from a previous run), resolving
    the versions the base has (it holds the newest kernel packages)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kernel_containers(client: Any, env_id: str | None = None) -> list[Any]:
    """Orbit's kernel containers; a container removed between docker-py's listing and its
    inspection of each one (a kernel shutting down) makes it list again."""
    import docker.errors

    label = f"{LABEL_KERNEL}={env_id}" if env_id else LABEL_KERNEL
    for _ in range(10):
        try:
            return client.containers.list(all=True, filters={"label": label})
        except docker.errors.NotFound:
            time.sleep(0.1)
    return client.containers.list(all=True, filters={"label": label})


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def no_kernel_containers(docker_client: Any) -> Iterator[None]:
    """Fails the test if it leaves a kernel container behind."""
    before = {c.id for c in kernel_containers(docker_client)}
    yield
    wait_for(
        lambda: not [c for c in kernel_containers(docker_client) if c.id not in before],
        timeout=60,
        what="the test's kernel containers to be removed",
    )


def docker_gid() -> int:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return Path(host.removeprefix("unix://")).stat().st_gid


REPO = Path(__file__).resolve().parents[2]


def _removed(network: Any) -> bool:
    import docker.errors

    try:
        network.remove()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "active endpoints" not in str(e):
            raise
        return False
    return True


def remove_services(client: Any, home: Path) -> None:
    """Everything the service runner of ORBIT_HOME ``home`` made: containers, networks, volumes."""
    from jupyter_orbit.engines.services import LABEL_HOME

    label = {"label": f"{LABEL_HOME}={home}"}
    for c in client.containers.list(all=True, filters=label):
        c.remove(force=True)
    for n in client.networks.list(filters=label):
        # a kernel container on it may still be going away (docker removes it after it exits)
        wait_for(lambda n=n: _removed(n), timeout=60, what=f"the network {n.name} to be free")
    for v in client.volumes.list(filters=label):
        v.remove(force=True)


@pytest.fixture
def services_home(tmp_path: Path, docker_client: Any) -> Iterator[Path]:
    """An ORBIT_HOME whose services (containers, networks, volumes) are removed afterwards."""
    home = tmp_path / "orbit-home"
    yield home
    remove_services(docker_client, home)
