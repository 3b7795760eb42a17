"""A hub across machines: the local container engine as a Docker Swarm manager, users' servers
as swarm services (DockerSpawner's SwarmSpawner), their image from a registry every node can
pull from.

- ``ensure_manager``: this engine becomes a manager (``docker swarm init``) if it is in no swarm;
  it advertises and listens on 127.0.0.1 unless the user names another address (other machines
  can join only then); the command other nodes join with is returned, never written anywhere;
- ``ensure_network``: the attachable overlay network the hub and users' servers share;
- ``push``: the users' image tagged for the registry and pushed there;
- ``services`` / ``remove_services``: users' servers of a profile's hub (by label);
- ``leave``: this engine leaves the swarm (only when asked, with ``orbit hub down --leave-swarm``).
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from jupyter_orbit.errors import BuildError, InputError, OrbitError
from jupyter_orbit.hub.confection import LABEL_HUB
from jupyter_orbit.progress import Progress

SWARM_PORT = 2377
LABEL_NETWORK = "org.jupyter.orbit.hub-network"


@dataclass(frozen=True)
class Manager:
    address: str  # what other nodes connect to
    initialised: bool  # by this call
    join_command: str  # for workers


def state(client: Any) -> str:
    """``inactive``, ``active``, ``pending``, ``error`` or ``locked``: this engine in a swarm."""
    return str(client.info().get("Swarm", {}).get("LocalNodeState", "inactive"))


def ensure_manager(client: Any, advertise_addr: str, progress: Progress) -> Manager:
    """This engine as a swarm manager (made one if it is in no swarm)."""
    _check_address(advertise_addr)
    info = client.info().get("Swarm", {})
    now = info.get("LocalNodeState", "inactive")
    initialised = False
    if now == "inactive":
        progress.step("swarm", f"docker swarm init --advertise-addr {advertise_addr}")
        try:
            client.swarm.init(
                advertise_addr=advertise_addr,
                listen_addr=f"{advertise_addr}:{SWARM_PORT}",
                data_path_addr=advertise_addr,
            )
        except Exception as e:
            raise OrbitError(
                f"the container engine could not become a swarm manager: {e}",
                "see `docker swarm init --advertise-addr ADDR` for what it needs",
            ) from None
        initialised = True
        info = client.info().get("Swarm", {})
    elif now != "active":
        raise OrbitError(
            f"this container engine's swarm is {now}",
            "fix it with `docker swarm` (or leave: `docker swarm leave --force`), then try again",
        )
    if not info.get("ControlAvailable"):
        raise OrbitError(
            "this container engine is a swarm worker, not a manager",
            "run `orbit hub up --swarm` on a manager node (`docker node ls` there lists them)",
        )
    client.swarm.reload()
    token = client.swarm.attrs["JoinTokens"]["Worker"]
    address = _manager_address(info) or f"{advertise_addr}:{SWARM_PORT}"
    return Manager(address, initialised, f"docker swarm join --token {token} {address}")


def _manager_address(info: dict[str, Any]) -> str | None:
    for manager in info.get("RemoteManagers") or ():
        if manager.get("NodeID") == info.get("NodeID"):
            return str(manager.get("Addr"))
    return None


def _check_address(address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise InputError(
            f"--advertise-addr {address!r} is not an IP address",
            "give this machine's address on the network other nodes reach it by "
            "(the default, 127.0.0.1, keeps the swarm to this machine)",
        ) from None


def ensure_network(client: Any, name: str, profile: str) -> Any:
    """The hub's attachable overlay network (made if missing)."""
    for net in client.networks.list(names=[name]):
        if net.name == name:
            if net.attrs.get("Driver") != "overlay":
                raise OrbitError(
                    f"the network {name} exists but is not a swarm overlay network",
                    f"remove it (`orbit hub down`, or `docker network rm {name}`) and try again",
                )
            return net
    return client.networks.create(
        name, driver="overlay", attachable=True, labels={LABEL_NETWORK: profile}
    )


def remove_network(client: Any, name: str) -> bool:
    for net in client.networks.list(names=[name]):
        if net.name == name and net.attrs.get("Labels", {}).get(LABEL_NETWORK):
            with contextlib.suppress(Exception):
                net.remove()
                return True
    return False


def check_registry(registry: str) -> str:
    """``HOST:PORT`` of a registry (no scheme, no path)."""
    host, sep, port = registry.rpartition(":")
    if not sep or not port.isdigit() or not host or "/" in registry:
        raise InputError(
            f"--registry {registry!r} is not HOST:PORT",
            "give the registry every node pulls from, e.g. --registry registry.example.org:5000",
        )
    return registry


def push(client: Any, image: str, registry: str, progress: Progress) -> str:
    """Tag ``image`` for ``registry`` and push it; the reference nodes pull (with its digest)."""
    repo_tag = image.split("/")[-1]
    repository, _, tag = repo_tag.partition(":")
    target = f"{registry}/{repository}"
    progress.step("push", f"{image} to {target}:{tag or 'latest'}")
    client.images.get(image).tag(target, tag or "latest")
    error = None
    for line in client.api.push(target, tag=tag or "latest", stream=True, decode=True):
        if "error" in line:
            error = line.get("error")
        elif status := line.get("status"):
            progress.log(f"{status} {line.get('progress', '')}".strip())
    if error:
        raise BuildError(
            f"pushing {target}:{tag} failed: {error}",
            f"check that the registry at {registry} runs and accepts pushes from this machine "
            "(registries other than 127.0.0.1 need TLS, or an `insecure-registries` entry in "
            "/etc/docker/daemon.json)",
        )
    return f"{target}:{tag or 'latest'}"


def services(client: Any, profile: str) -> list[Any]:
    """The users' servers of ``profile``'s hub, as swarm services."""
    if state(client) != "active":
        return []
    try:
        found = client.services.list(filters={"label": f"{LABEL_HUB}={profile}"})
    except Exception:  # a worker cannot list services
        return []
    return list(found)


def remove_services(client: Any, profile: str) -> list[str]:
    removed = []
    for service in services(client, profile):
        with contextlib.suppress(Exception):
            service.remove()
            removed.append(f"service {service.name}")
    return removed


def leave(client: Any) -> bool:
    """Leave the swarm (a manager too: ``--force``); False if this engine was in none."""
    if state(client) == "inactive":
        return False
    client.swarm.leave(force=True)
    return True
