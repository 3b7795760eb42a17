"""Services beside the kernels (a database, a cache), run through the Docker Engine API.

An ecosystem that runs services (``Ecosystem.runs_beside``: the compose ecosystem) says what
they are, in Compose's service syntax (``Services``); this runner checks and starts them:

- **checked first** (``plan``, pure): nothing that reaches into the host unless the user passes
  ``--allow-host-access`` — the kernel containers' guard (``container_options.findings``:
  privileged, the engine's socket in short or long syntax, ``/``, host namespaces, ports on
  every interface), and for services also any added capability, host devices, bind mounts
  outside the project, and volume driver options (which can mount any host folder). Keys the
  runner does not understand are refused too, never passed on. Refusals name the file, the key
  and its line;
- **one project, one set**: each project (the folder of its compose file) gets its own network
  ``<project>_default`` (kernels in containers join it and reach a service by its name), named
  volumes ``<project>_<name>`` (as Compose names them with that project name, so data survives
  the containers), and containers ``<project>-<service>``, labelled with Orbit's home and a
  hash of what they were made from (a changed service is recreated, its volumes kept);
- **images**: the local engine's, else pulled, else, for the catalog's services, a stand-in built
  from Debian packages (``dockerfile.render_service``), which it says;
- **ready** when each service's health check passes (or it runs, without one); a service that
  stops or fails its check is reported with its last log lines;
- **stopped** after the last kernel that uses them: each kernel holds a lease (its process,
  through ``service_lease``) and a watcher process (``service_watch``) stops the services once
  no lease has been alive for a while, unless the profile keeps them (``defaults.services``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit import atomic
from jupyter_orbit.ecosystems.base import Service, Services
from jupyter_orbit.engines import dockerapi
from jupyter_orbit.engines.container_options import Finding, findings, refuse, split_port
from jupyter_orbit.errors import InputError, OrbitError

if TYPE_CHECKING:
    import docker

    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress

LABEL_PROJECT = "org.jupyter.orbit.services"
LABEL_SERVICE = "org.jupyter.orbit.service"
LABEL_CONFIG = "org.jupyter.orbit.service-config"
LABEL_HOME = "org.jupyter.orbit.home"
LEASE_SCRIPT = Path(__file__).with_name("service_lease.py")
STATE_FILE = "state.json"
# How long services stay up after the last kernel using them ended (a restart's gap).
GRACE_SECONDS = 10.0
# A service without a health check that was just started counts as up once it has run this long
# (one that exits as it starts is then said to have stopped, not taken as up).
SETTLE = 1.0

# The Compose service keys the runner understands; anything else is refused, never passed on.
KEYS = frozenset(
    {
        "image",
        "build",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "ports",
        "expose",
        "volumes",
        "healthcheck",
        "depends_on",
        "labels",
        "user",
        "working_dir",
        "hostname",
        "shm_size",
        "mem_limit",
        "cpus",
        "tmpfs",
        "init",
        "read_only",
        "stop_signal",
        "stop_grace_period",
        "restart",
        "container_name",
        "networks",
        "profiles",
        "privileged",
        "cap_add",
        "cap_drop",
        "security_opt",
        "devices",
        "network_mode",
        "pid",
        "ipc",
        "uts",
        "userns_mode",
        "cgroup",
    }
)
_PASSED = {  # same meaning in docker-py's containers.create
    "user": "user",
    "working_dir": "working_dir",
    "hostname": "hostname",
    "shm_size": "shm_size",
    "mem_limit": "mem_limit",
    "init": "init",
    "read_only": "read_only",
    "stop_signal": "stop_signal",
    "cap_drop": "cap_drop",
    "cap_add": "cap_add",
    "devices": "devices",
    "privileged": "privileged",
    "pid": "pid_mode",
    "ipc": "ipc_mode",
    "uts": "uts_mode",
    "userns_mode": "userns_mode",
    "cgroup": "cgroupns",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ServiceError(OrbitError):
    """A service beside the kernels could not be started or did not become ready."""


def engine_here() -> bool:
    """Whether a container engine may answer here (its socket exists, or DOCKER_HOST is remote):
    without one, nothing of ours can be running."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith(("tcp://", "ssh://", "http://", "https://")):
        return True
    return Path(host.removeprefix("unix://") or "/var/run/docker.sock").exists()


def project_key(folder: Path) -> str:
    """``orbit-svc-<folder name>-<hash of its path>``: the Compose project name Orbit gives a
    project's services (stable, and distinct for two folders of the same name)."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")[:24] or "project"
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    return f"orbit-svc-{slug}-{digest}"


def seconds(value: Any, *, key: str, path: Path) -> float:
    """A Compose duration (``1m30s``, ``500ms``, or a number of seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InputError(
            f"{key}: {value!r} is not a duration", "write e.g. 2s, 500ms or 1m30s", path=path
        )
    return sum(float(n) * _UNIT[u] for n, u in parts)


# -- checking and translating (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One service, checked, as the Engine API creates it."""

    service: Service
    container: str
    image: str
    create: dict[str, Any]
    volumes: tuple[str, ...]  # the engine's names of the named volumes it mounts
    external: tuple[str, ...]  # those of them made elsewhere (never created here)
    ports: tuple[int, ...]  # its own ports (published or exposed)
    after: tuple[str, ...]  # services it depends on
    ready_within: float  # seconds its health check may take, at most

    def config_hash(self, image_id: str, network: str) -> str:
        blob = json.dumps([self.create, image_id, network], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan(
    group: Services, *, key: str, home: Path, allow_host_access: bool = False
) -> list[Planned]:
    """Check ``group`` and translate it for the Engine API; refuses (``InputError``, with the
    line) what reaches into the host unasked, and what the runner does not understand."""
    found: list[Finding] = []
    out = []
    for service in group.services:
        where = f"{group.key}.{service.name}"
        definition = service.definition
        for name in definition:
            if name not in KEYS:
                raise InputError(
                    f"{where}.{name}: Orbit does not run services with {name!r}",
                    "remove it, or run these services yourself with `docker compose up`",
                    path=group.source,
                    line=group.line_of(f"{where}.{name}"),
                )
        found += findings(_absolute_binds(definition, group.base), key=where)
        found += _service_findings(definition, group, where)
        out.append(_translate(service, definition, group, key=key, home=home, where=where))
    for name, options in (group.volumes or {}).items():
        if isinstance(options, Mapping) and (
            options.get("driver", "local") != "local" or options.get("driver_opts")
        ):
            found.append(
                Finding(
                    f"volumes.{name}",
                    "sets a volume driver or its options (they can mount any host folder)",
                )
            )
    if not allow_host_access:
        refuse(found, path=group.source, line_of=group.line_of)
    names = {p.service.name for p in out}
    for p in out:
        for dep in p.after:
            if dep not in names:
                raise InputError(
                    f"{group.key}.{p.service.name}.depends_on: no service {dep!r}",
                    f"name one of: {', '.join(sorted(names))}",
                    path=group.source,
                    line=group.line_of(f"{group.key}.{p.service.name}.depends_on"),
                )
    return _in_order(out, group)


def _absolute_binds(definition: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """``definition`` with relative bind sources made absolute (what the guard must see:
    ``./sock`` may be a link to the engine's socket)."""
    volumes = []
    for item in _list(definition.get("volumes")):
        source = _bind_source(item)
        if source is not None and not source.startswith("/"):
            absolute = str(base / Path(source).expanduser())
            if isinstance(item, str):
                item = absolute + item[len(source) :]
            else:
                item = {**item, "source": absolute}
        volumes.append(item)
    return {**definition, "volumes": volumes} if volumes else dict(definition)


def _service_findings(definition: Mapping[str, Any], group: Services, where: str) -> list[Finding]:
    """What a service may not have beyond a kernel container's guard."""
    out = []
    guarded = {f.key for f in findings(_absolute_binds(definition, group.base), key=where)}
    for i, cap in enumerate(_list(definition.get("cap_add"))):
        if f"{where}.cap_add[{i}]" not in guarded:
            out.append(Finding(f"{where}.cap_add[{i}]", f"adds the {cap} capability"))
    for i, device in enumerate(_list(definition.get("devices"))):
        out.append(
            Finding(f"{where}.devices[{i}]", f"hands the container a host device ({device})")
        )
    for ns in ("network_mode", "pid", "ipc"):
        value = str(definition.get(ns) or "")
        if value.startswith(("service:", "container:")):
            out.append(Finding(f"{where}.{ns}", f"shares another container's namespace ({value})"))
    for i, item in enumerate(_list(definition.get("volumes"))):
        source = _bind_source(item)
        if source is None:
            continue
        host = (group.base / Path(source).expanduser()).resolve()
        if os.path.normpath(str(host)) == "/" or f"{where}.volumes[{i}]" in guarded:
            continue  # the guard names it already
        if not host.is_relative_to(group.root.resolve()):
            out.append(
                Finding(
                    f"{where}.volumes[{i}]",
                    f"mounts {host}, outside the project folder {group.root}",
                )
            )
    return out


def _bind_source(item: Any) -> str | None:
    if isinstance(item, str):
        source, sep, _ = item.partition(":")
        return source if sep and source.startswith(("/", ".", "~")) else None
    if isinstance(item, Mapping) and item.get("type") == "bind" and "source" in item:
        return str(item["source"])
    return None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _translate(
    service: Service,
    definition: Mapping[str, Any],
    group: Services,
    *,
    key: str,
    home: Path,
    where: str,
) -> Planned:
    path = group.source
    image = definition.get("image")
    if not isinstance(image, str) or not image:
        build = " (Orbit does not build services' images: build it with `docker compose build`)"
        raise InputError(
            f"{where} names no image{build if 'build' in definition else ''}",
            "give it an image, e.g. image: postgres:15",
            path=path,
            line=group.line_of(where),
        )
    create: dict[str, Any] = {
        "labels": {
            **_labels(definition.get("labels")),
            LABEL_PROJECT: key,
            LABEL_SERVICE: service.name,
            LABEL_HOME: str(home),
        },
        "security_opt": ["no-new-privileges", *_list(definition.get("security_opt"))],
        "environment": _environment(definition, group, where),
    }
    for name in ("command", "entrypoint"):
        if (value := definition.get(name)) is not None:
            create[name] = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
    for ours, theirs in _PASSED.items():
        if ours in definition:
            create[theirs] = definition[ours]
    if "cpus" in definition:
        create["nano_cpus"] = int(float(definition["cpus"]) * 1e9)
    if definition.get("network_mode") == "host":
        create["network_mode"] = "host"
    tmpfs = definition.get("tmpfs")
    if tmpfs:
        create["tmpfs"] = {str(t).split(":")[0]: "" for t in _list(tmpfs)}
    ports, own_ports = _ports(definition)
    if ports:
        create["ports"] = ports
    binds, volumes, external = _volumes(definition, group, key=key, where=where)
    if binds:
        create["volumes"] = binds
    if "healthcheck" in definition:
        create["healthcheck"] = _healthcheck(
            definition["healthcheck"], f"{where}.healthcheck", path
        )
    expose = [int(str(p).split("/")[0]) for p in _list(definition.get("expose"))]
    after = definition.get("depends_on") or []
    return Planned(
        service=service,
        container=f"{key}-{service.name}",
        image=image,
        create=create,
        volumes=tuple(volumes),
        external=tuple(external),
        ports=tuple(dict.fromkeys([*own_ports, *expose])),
        after=tuple(str(a) for a in after),
        ready_within=_ready_within(create.get("healthcheck")),
    )


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return dict(str(item).partition("=")[::2] for item in _list(value))


def _environment(definition: Mapping[str, Any], group: Services, where: str) -> dict[str, str]:
    from jupyter_orbit.ecosystems.compose_yaml import env_file

    out: dict[str, str] = {}
    for i, item in enumerate(_list(definition.get("env_file"))):
        source = item.get("path") if isinstance(item, Mapping) else item
        required = item.get("required", True) if isinstance(item, Mapping) else True
        file = (group.base / str(source)).resolve()
        if not file.is_relative_to(group.root.resolve()):
            raise InputError(
                f"{where}.env_file[{i}]: {source} is outside the project folder {group.root}",
                "keep the file inside the project",
                path=group.source,
                line=group.line_of(f"{where}.env_file"),
            )
        try:
            out.update(env_file(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            if required:
                raise InputError(
                    f"{where}.env_file[{i}]: cannot read {source} ({e})",
                    "create it, or mark it required: false",
                    path=group.source,
                    line=group.line_of(f"{where}.env_file"),
                ) from None
    env = definition.get("environment") or {}
    if isinstance(env, Mapping):
        items = [(str(k), v) for k, v in env.items()]
    else:
        items = [(k, v if eq else None) for k, eq, v in (str(e).partition("=") for e in env)]
    for k, v in items:
        if v is None:  # "KEY" alone: from the environment, as Compose takes it
            if k in os.environ:
                out[k] = os.environ[k]
            continue
        out[k] = "true" if v is True else "false" if v is False else str(v)
    return out


def _ports(definition: Mapping[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """docker-py's port bindings (a host port the engine picks where none is given)."""
    out: dict[str, Any] = {}
    own = []
    for item in _list(definition.get("ports")):
        if isinstance(item, Mapping):
            target = int(item["target"])
            proto = item.get("protocol", "tcp")
            published = item.get("published")
            out[f"{target}/{proto}"] = (
                item.get("host_ip") or "",
                int(published) if published else None,
            )
            own.append(target)
            continue
        ip, host, container = split_port(str(item))
        port, _, proto = container.partition("/")
        if "-" in port:
            raise InputError(f"port ranges are not supported ({item})", "publish each port")
        out[f"{port}/{proto or 'tcp'}"] = (ip or "", int(host) if host else None)
        own.append(int(port))
    return out, own


def _volumes(
    definition: Mapping[str, Any], group: Services, *, key: str, where: str
) -> tuple[list[str], list[str], list[str]]:
    """``SOURCE:TARGET[:MODE]`` binds for docker-py, the engine's names of the named volumes,
    and which of them are external (made elsewhere)."""
    binds, named, outside = [], [], []
    declared = group.volumes or {}
    for i, item in enumerate(_list(definition.get("volumes"))):
        if isinstance(item, str):
            parts = item.split(":")
            if len(parts) == 1:
                continue  # an anonymous volume: the image's own, its data not kept anyway
            source, target, mode = parts[0], parts[1], (parts[2] if len(parts) > 2 else "rw")
        elif isinstance(item, Mapping):
            kind = item.get("type", "volume")
            if kind == "tmpfs":
                continue
            source, target = str(item.get("source", "")), str(item.get("target", ""))
            mode = "ro" if item.get("read_only") else "rw"
            if not source:
                continue
        else:
            raise InputError(f"{where}.volumes[{i}] is not a volume", "write SOURCE:TARGET")
        if source.startswith(("/", ".", "~")):
            source = str((group.base / Path(source).expanduser()).resolve())
        else:
            options = declared.get(source) if isinstance(declared, Mapping) else None
            external = isinstance(options, Mapping) and options.get("external")
            given = options.get("name") if isinstance(options, Mapping) else None
            source = str(given) if given else source if external else f"{key}_{source}"
            named.append(source)
            if external:
                outside.append(source)
        binds.append(f"{source}:{target}:{mode}")
    return binds, named, outside


def _healthcheck(value: Any, key: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{key} is not a mapping", "write test:, interval: …", path=path)
    if value.get("disable"):
        return {"test": ["NONE"]}
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    out: dict[str, Any] = {"test": [str(t) for t in test]} if test else {}
    for name in ("interval", "timeout", "start_period", "start_interval"):
        if name in value:
            out[name] = int(seconds(value[name], key=f"{key}.{name}", path=path) * 1e9)
    if "retries" in value:
        out["retries"] = int(value["retries"])
    return out


def _ready_within(check: Mapping[str, Any] | None) -> float:
    """How long a health check may take to pass, by its own settings (Docker's defaults)."""
    if not check or check.get("test") == ["NONE"]:
        return 30.0
    interval = check.get("interval", 30e9) / 1e9
    timeout = check.get("timeout", 30e9) / 1e9
    start = check.get("start_period", 0) / 1e9
    retries = check.get("retries", 3)
    return min(900.0, max(30.0, start + (interval + timeout) * (retries + 1)))


def _in_order(planned: list[Planned], group: Services) -> list[Planned]:
    """Dependencies first (``depends_on``), else as the file lists them."""
    by_name = {p.service.name: p for p in planned}
    out: list[Planned] = []
    seen: set[str] = set()

    def visit(p: Planned, trail: tuple[str, ...]) -> None:
        if p.service.name in seen:
            return
        if p.service.name in trail:
            raise InputError(
                f"{group.key}: services depend on each other in a circle "
                f"({' → '.join((*trail, p.service.name))})",
                "break the circle in depends_on",
                path=group.source,
            )
        for dep in p.after:
            visit(by_name[dep], (*trail, p.service.name))
        seen.add(p.service.name)
        out.append(p)

    for p in planned:
        visit(p, ())
    return out


# -- running --------------------------------------------------------------------------------


@dataclass
class Started:
    """A service that is up, and how a kernel reaches it."""

    service: Service
    container: str
    image: str
    published: dict[int, int]  # its port → the port on the host's 127.0.0.1
    ports: tuple[int, ...]  # its own ports (reached by its name on the project's network)
    stand_in: bool = False  # a Debian-built image in place of the one it names

    def public(self) -> dict[str, Any]:
        return {
            "name": self.service.name,
            "container": self.container,
            "image": self.image,
            "ports": {str(k): v for k, v in self.published.items()},
            "stand_in": self.stand_in,
        }


@dataclass
class Running:
    key: str
    network: str
    leases: Path
    services: list[Started] = field(default_factory=list)


class ServiceRunner:
    """Starts, stops and lists one ORBIT_HOME's services on the local container engine."""

    def __init__(self, paths: Paths, client: docker.DockerClient | None = None) -> None:
        self.paths = paths
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = dockerapi.connect(timeout=120)
        return self._client

    def folder(self, key: str) -> Path:
        return self.paths.services_dir / key

    # -- up -------------------------------------------------------------------------------

    def up(
        self,
        group: Services,
        progress: Progress,
        *,
        allow_host_access: bool = False,
        keep: bool = False,
    ) -> Running:
        """Start ``group``'s services (those already running as asked are kept) and wait until
        each is ready; unless ``keep``, a watcher stops them after their last kernel."""
        from filelock import FileLock

        key = project_key(group.folder)
        planned = plan(group, key=key, home=self.paths.home, allow_host_access=allow_host_access)
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        running = Running(key, f"{key}_default", folder / "leases")
        with FileLock(folder / "lock"):
            (folder / "started").touch()  # the watcher's grace counts from here too
            network = self._network(key)
            images = {p.service.name: self._image(p, group, progress) for p in planned}
            for p in planned:
                for volume in p.volumes:
                    self._volume(volume, key, external=volume in p.external)
            containers = []
            for p in planned:
                image, stand_in = images[p.service.name]
                containers.append((p, *self._container(p, image, network, progress), stand_in))
            for p, container, fresh, stand_in in containers:
                self._wait(p, container, group, progress, fresh=fresh)
                running.services.append(self._started(p, container, stand_in))
            atomic.write_json(
                folder / STATE_FILE,
                {
                    "key": key,
                    "folder": str(group.folder),
                    "source": str(group.source),
                    "services": [s.service.name for s in running.services],
                    "keep": keep,
                },
            )
            (folder / "started").touch()
        if not keep:
            self._watch(key)
        return running

    def _network(self, key: str) -> Any:
        import docker.errors

        name = f"{key}_default"
        try:
            return self.client.networks.get(name)
        except docker.errors.NotFound:
            return self.client.networks.create(
                name, driver="bridge", labels={LABEL_PROJECT: key, LABEL_HOME: str(self.paths.home)}
            )

    def _volume(self, name: str, key: str, *, external: bool) -> None:
        import docker.errors

        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            if external:
                raise ServiceError(
                    f"the external volume {name} does not exist",
                    f"create it (`docker volume create {name}`), or drop external: true",
                ) from None
            self.client.volumes.create(
                name, labels={LABEL_PROJECT: key, LABEL_HOME: str(self.paths.home)}
            )

    def _image(self, p: Planned, group: Services, progress: Progress) -> tuple[str, bool]:
        """(the image to run, whether it is a Debian-built stand-in for the one named)."""
        from jupyter_orbit.ecosystems import get_ecosystem
        from jupyter_orbit.engines.baseimage import ensure_rootfs
        from jupyter_orbit.engines.dockerfile import render_service, service_tag
        from jupyter_orbit.imagelayout import LOCAL_ROOTFS, REGISTRY_ROOTFS

        if dockerapi.image(self.client, p.image) is not None:
            return p.image, False
        stand_in = get_ecosystem(group.ecosystem, self.paths).service_image(p.service)
        said = f"{p.service.name}: {p.image} is not in the local engine"
        if stand_in is not None:
            for rootfs in (LOCAL_ROOTFS, REGISTRY_ROOTFS):
                if dockerapi.image(self.client, rootfs) is not None:
                    tag = service_tag(stand_in, render_service(rootfs, stand_in))
                    if dockerapi.image(self.client, tag) is not None:
                        progress.step(
                            "service", f"{said}: running {tag}, built from Debian packages"
                        )
                        return tag, True
        try:
            progress.step("service", f"{said}: pulling it")
            self.client.images.pull(p.image)
            return p.image, False
        except Exception as e:
            reason = dockerapi._short(e)
        if stand_in is None:
            raise ServiceError(
                f"the image {p.image} of the service {p.service.name} is not in the local engine, "
                f"and no registry serves it ({reason})",
                "load it (`docker load`) or pull it where a registry answers; Orbit builds "
                "stand-ins only for the catalog's services (`orbit search --in compose`)",
                path=group.source,
                line=group.line_of(f"{group.key}.{p.service.name}.image"),
            )
        progress.warn(
            f"no registry serves {p.image} ({reason}): building a stand-in from Debian packages "
            f"({', '.join(stand_in.packages)}) instead, once"
        )
        from filelock import FileLock

        self.paths.services_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.paths.services_dir / ".build.lock"):
            rootfs = ensure_rootfs(self.client, progress)
            context = render_service(rootfs, stand_in)
            tag = service_tag(stand_in, context)
            if dockerapi.image(self.client, tag) is None:
                dockerapi.build(self.client, context, tag, progress, what=f"the stand-in {tag}")
        return tag, True

    def _container(
        self, p: Planned, image: str, network: Any, progress: Progress
    ) -> tuple[Any, bool]:
        """The service's container, running; and whether it was started just now."""
        import docker.errors

        image_id = dockerapi.image(self.client, image).id
        config = p.config_hash(image_id, network.name)
        found = self.client.containers.list(
            all=True, filters={"label": [f"{LABEL_PROJECT}={p.create['labels'][LABEL_PROJECT]}"]}
        )
        for c in found:
            if c.labels.get(LABEL_SERVICE) != p.service.name:
                continue
            if c.labels.get(LABEL_CONFIG) == config:
                if c.status == "running":
                    return c, False
                progress.step("service", f"{p.service.name}: starting {c.name}")
                c.start()
                return c, True
            progress.step("service", f"{p.service.name}: changed, recreating {c.name}")
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):  # one of another home, or by hand
            self.client.containers.get(p.container).remove(force=True)
        create = dict(p.create)
        create["labels"] = {**create["labels"], LABEL_CONFIG: config}
        kwargs: dict[str, Any] = {}
        if create.get("network_mode") != "host":
            endpoint = self.client.api.create_endpoint_config(aliases=[p.service.name])
            kwargs = {"network": network.name, "networking_config": {network.name: endpoint}}
        progress.step("service", f"{p.service.name}: starting {p.container} ({image})")
        c = self.client.containers.create(image, name=p.container, detach=True, **kwargs, **create)
        c.start()
        return c, True

    def _wait(
        self, p: Planned, container: Any, group: Services, progress: Progress, *, fresh: bool
    ) -> None:
        """Until the service's health check passes, or, without one, until it runs: for one
        started just now, still running ``SETTLE`` seconds after it was first seen running (a
        service that exits as it starts is said as such, not taken as up)."""
        progress.step("service", f"{p.service.name}: waiting until it is ready")
        deadline = time.monotonic() + p.ready_within
        checked = "healthcheck" in p.create and p.create["healthcheck"].get("test") != ["NONE"]
        settled: float | None = None if fresh else 0.0  # when it counts as up, without a check
        while True:
            container.reload()
            state = container.attrs.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if state.get("Status") in ("exited", "dead"):
                self._fail(p, container, group, f"stopped (exit code {state.get('ExitCode')})")
            if state.get("Status") == "running" and checked and health == "healthy":
                return
            if state.get("Status") == "running" and not checked:
                if settled is None:
                    settled = time.monotonic() + SETTLE
                if time.monotonic() >= settled:
                    return
            elif fresh and not checked:
                settled = None  # restarting (a restart policy): it has to run that long again
            if health == "unhealthy":
                said = ((state["Health"].get("Log") or [{}])[-1].get("Output") or "").strip()
                self._fail(
                    p,
                    container,
                    group,
                    "failed its health check" + (f" ({said[-200:]})" if said else ""),
                )
            if time.monotonic() > deadline:
                self._fail(p, container, group, f"was not ready after {p.ready_within:.0f} s")
            time.sleep(max(0.05, min(0.3, settled - time.monotonic())) if settled else 0.3)

    def _fail(self, p: Planned, container: Any, group: Services, what: str) -> None:
        try:
            text = container.logs(tail=12).decode(errors="replace")
        except Exception:
            text = ""
        tail = [ln.rstrip() for ln in text.splitlines() if ln.strip()][-12:]
        logs = ("; its last log lines:\n" + "\n".join(f"    {ln}" for ln in tail)) if tail else ""
        raise ServiceError(
            f"the service {p.service.name} ({p.image}) {what}{logs}",
            f"fix the service in {group.source} ({group.key}.{p.service.name}), then restart "
            f"the kernel; `docker logs {container.name}` shows its whole log",
            path=group.source,
            line=group.line_of(f"{group.key}.{p.service.name}"),
        )

    def _started(self, p: Planned, container: Any, stand_in: bool) -> Started:
        container.reload()
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        published = {}
        for spec, binds in bindings.items():
            port = int(spec.split("/")[0])
            for b in binds or ():
                if b.get("HostPort") and b.get("HostIp", "") in ("127.0.0.1", "", "0.0.0.0"):
                    published[port] = int(b["HostPort"])
                    break
        image = self.client.images.get(container.attrs["Config"]["Image"])
        exposed = [
            int(s.split("/")[0])
            for s in (image.attrs.get("Config") or {}).get("ExposedPorts") or {}
        ]
        ports = tuple(dict.fromkeys([*p.ports, *exposed]))
        return Started(
            p.service,
            container.name,
            container.attrs["Config"]["Image"],
            published,
            ports,
            stand_in,
        )

    # -- leases and the watcher ----------------------------------------------------------

    def lease_argv(self, running: Running, argv: list[str]) -> list[str]:
        """``argv`` holding a lease on ``running``'s services for as long as it runs."""
        return [sys.executable, "-I", "-S", str(LEASE_SCRIPT), str(running.leases), "--", *argv]

    def _watch(self, key: str) -> None:
        """Start the watcher that stops the services after their last kernel (one per project)."""
        from filelock import FileLock, Timeout

        lock = FileLock(self.folder(key) / "watch.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # one is watching already
        lock.release()
        env = {**os.environ, "ORBIT_HOME": str(self.paths.home)}
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_orbit.engines.service_watch",
                str(self.paths.home),
                key,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.folder(key),
            env=env,
            start_new_session=True,
        )

    # -- stop, remove, list ------------------------------------------------------------------

    def containers(self, key: str | None = None) -> list[Any]:
        labels = [f"{LABEL_HOME}={self.paths.home}"]
        if key:
            labels.append(f"{LABEL_PROJECT}={key}")
        import docker.errors

        for _ in range(5):
            try:
                return self.client.containers.list(all=True, filters={"label": labels})
            except docker.errors.NotFound:  # one went away while being listed
                time.sleep(0.1)
        return self.client.containers.list(all=True, filters={"label": labels})

    def stop(self, key: str) -> list[str]:
        """Stop a project's services (their containers and data stay, for the next start)."""
        stopped = []
        for c in self.containers(key):
            if c.status == "running":
                with contextlib.suppress(Exception):
                    c.stop(timeout=10)
                    stopped.append(c.name)
        return stopped

    def remove(self, key: str, names: Iterable[str], *, volumes: Iterable[str] = ()) -> list[str]:
        """Remove services' containers (``orbit remove``) and, when given, their volumes."""
        import docker.errors

        names = set(names)
        removed = []
        for c in self.containers(key):
            if c.labels.get(LABEL_SERVICE) in names:
                with contextlib.suppress(docker.errors.NotFound):
                    c.remove(force=True)
                    removed.append(f"container {c.name}")
        for name in volumes:
            try:
                self.client.volumes.get(name).remove()
                removed.append(f"volume {name}")
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as e:
                raise ServiceError(
                    f"the volume {name} could not be deleted: {dockerapi._short(e)}",
                    "stop what uses it, then `docker volume rm " + name + "`",
                ) from None
        return removed

    def listing(self) -> list[dict[str, Any]]:
        """Every service this ORBIT_HOME started, and its state, for ``orbit status``."""
        out = []
        for c in self.containers():
            key = c.labels.get(LABEL_PROJECT, "")
            try:
                state = json.loads((self.folder(key) / STATE_FILE).read_text())
            except (OSError, ValueError):
                state = {}
            health = ((c.attrs.get("State") or {}).get("Health") or {}).get("Status")
            health = health if c.status == "running" else None
            ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
            published = {
                spec.split("/")[0]: f"{b['HostIp']}:{b['HostPort']}"
                for spec, binds in ports.items()
                for b in (binds or ())[:1]
            }
            out.append(
                {
                    "service": c.labels.get(LABEL_SERVICE),
                    "project": key,
                    "folder": state.get("folder"),
                    "source": state.get("source"),
                    "container": c.name,
                    "image": c.attrs.get("Config", {}).get("Image"),
                    "status": c.status,
                    "health": health,
                    "ports": published,
                    "kernels": len(live_leases(self.folder(key) / "leases")),
                    "keep": bool(state.get("keep")),
                }
            )
        return sorted(out, key=lambda s: (s["project"], s["service"] or ""))


def live_leases(folder: Path) -> list[int]:
    """The processes holding a lease in ``folder`` that still run; stale leases are removed."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    alive = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            started = entry.read_text().strip()
        except OSError:
            continue
        if _alive(pid, started):
            alive.append(pid)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return alive


def _alive(pid: int, started: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if not Path("/proc/self/stat").exists():  # no /proc: ask the kernel
            try:
                os.kill(pid, 0)
            except OSError:
                return False
            return True
        return False
    return not started or stat.rsplit(")", 1)[-1].split()[19] == started
