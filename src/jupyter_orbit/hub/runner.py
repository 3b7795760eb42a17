"""Build a profile's hub images, write its confection, and run it with Docker Compose.

The compose file is the source of truth: ``up`` writes it only when it is missing or exactly as
Orbit last wrote it (a user's edits are kept and run), checks it (``policy``), then hands it to
Docker Compose (``docker compose`` or Debian's ``docker-compose``). Status, logs and the users'
containers are read through the Engine API.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit import atomic
from jupyter_orbit.engines import dockerapi
from jupyter_orbit.engines.dockerfile import render_hub, render_server, render_user
from jupyter_orbit.errors import BuildError, OrbitError, ServerError
from jupyter_orbit.hub import confection, hubconfig, policy, swarm
from jupyter_orbit.hub.confection import (
    COMPOSE_FILE,
    CONFIG_FILE,
    ENV_FILE,
    HUB_CONTEXT,
    LABEL_HUB,
    USER_DOCKERFILE,
    HubSettings,
    slug,
)
from jupyter_orbit.imagelayout import ENV_PREFIX, ENV_PYTHON

if TYPE_CHECKING:
    from jupyter_orbit.paths import Paths, ProfilePaths
    from jupyter_orbit.progress import Progress

STATE_FILE = "hub.json"


@dataclass(frozen=True)
class SwarmChoice:
    """``orbit hub up --swarm``: where this manager is reached, the registry nodes pull from."""

    advertise_addr: str = "127.0.0.1"
    registry: str | None = None


@dataclass(frozen=True)
class HubInfo:
    profile: str
    url: str
    port: int
    folder: Path
    project: str
    join: str | None = None  # in a swarm: the command other nodes join with

    def public(self) -> dict[str, Any]:
        out = {
            "profile": self.profile,
            "url": self.url,
            "port": self.port,
            "folder": str(self.folder),
            "compose_file": str(self.folder / COMPOSE_FILE),
            "env_file": str(self.folder / ENV_FILE),
            "project": self.project,
        }
        return out | ({"join": self.join} if self.join else {})


def compose_command() -> list[str]:
    """Docker Compose v2 (``docker compose``) if present, else v1 (``docker-compose``)."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return cmd
    raise OrbitError(
        "Docker Compose is not installed (neither `docker compose` nor `docker-compose`)",
        "install it: `apt-get install docker-compose` on Debian, or Docker's compose plugin",
    )


class Hub:
    """One profile's local hub."""

    def __init__(self, paths: Paths, profile: ProfilePaths) -> None:
        self.paths = paths
        self.profile = profile
        self.folder = profile.root / "hub"
        self.name = slug(profile.name)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dockerapi.connect()
        return self._client

    # -- up --------------------------------------------------------------------------------

    def up(
        self,
        project: Path,
        *,
        port: int | None,
        rewrite: bool,
        allow_host_access: bool,
        progress: Progress,
        swarm_choice: SwarmChoice | None = None,
    ) -> HubInfo:
        from jupyter_orbit.engines.baseimage import ensure_base
        from jupyter_orbit.engines.docker import DockerEngine, image_tag
        from jupyter_orbit.hardware.fit import Hardware
        from jupyter_orbit.hub.devices import hub_devices
        from jupyter_orbit.prepare import Choices, prepare

        compose = self.folder / COMPOSE_FILE
        if compose.exists() and not rewrite and not self._ours(compose):
            # The user's own version runs as it is: refuse it now, before building anything.
            policy.check(compose, allow_host_access=allow_host_access)
        # The plan refuses what the engine cannot build, before anything is built.
        choices = Choices(engine="docker", root=project, allow_host_access=allow_host_access)
        prepared = prepare(project, choices, self.paths, until="plan")
        res, recipe = prepared.resolution, prepared.recipe
        # GPUs the project's notebooks declare: refused now if this machine cannot give them.
        hardware = Hardware.of_profile(self.profile)
        devices = hub_devices(project, hardware, self.client.info(), progress)
        engine = DockerEngine(self.paths, self.client)
        base = ensure_base(self.client, progress)
        server = self._ensure_image("orbit-server", render_server(base), progress, "the server")
        hub = self._ensure_image("orbit-hub", render_hub(base), progress, "the hub image")
        # The project's environment over the server image: the big server layer is shared by
        # every project's user image, and a kernel runs next to the server in each.
        kernel = f"{image_tag(res.spec.env_id)}-hub"
        found = dockerapi.image(self.client, kernel)
        if found is None or (found.labels or {}).get("org.jupyter.orbit.base") != server:
            engine.build_image(res.spec, server, kernel, progress)
        kernelspec = {
            "argv": recipe.argv(Path(str(ENV_PREFIX)), Path(str(ENV_PYTHON))),
            "display_name": recipe.display_name,
            "language": recipe.language,
        }
        user_image = f"orbit-user:{self.name.removeprefix('orbit-hub-')}"
        user = render_user(kernel, kernelspec, project=project)
        progress.step("user image", f"{user_image}: the environment, JupyterLab, {project.name}/")
        dockerapi.build(
            self.client, user, user_image, progress, what=f"the user image {user_image}"
        )

        state = self._state()
        manager = None
        if swarm_choice is not None:
            manager, user_image = self._swarm(swarm_choice, user_image, progress)
        settings = HubSettings(
            profile=self.profile.name,
            project=project,
            port=port or state.get("port") or _free_port(),
            hub_image=hub,
            user_image=user_image,
            engine_socket=_engine_socket(),
            swarm=manager is not None,
            devices=devices,
        )
        self._write(settings, render_hub(base).dockerfile, user.dockerfile, rewrite, progress)
        policy.check(compose, allow_host_access=allow_host_access)
        progress.step("compose", f"{' '.join(compose_command())} -p {self.name} up -d")
        self._compose("up", "-d", "--no-build", "--remove-orphans")
        published = self._published_port() or settings.port
        info = HubInfo(
            self.profile.name,
            f"http://127.0.0.1:{published}/",
            published,
            self.folder,
            str(project),
            manager.join_command if manager else None,
        )
        progress.step("hub", f"waiting for JupyterHub at {info.url}")
        self._wait_for_api(info)
        return info

    def _swarm(
        self, choice: SwarmChoice, user_image: str, progress: Progress
    ) -> tuple[swarm.Manager, str]:
        """This engine as a swarm manager, the hub's overlay network, and the users' image
        where every node pulls it from (the reference the spawner starts)."""
        if choice.registry:
            swarm.check_registry(choice.registry)
        manager = swarm.ensure_manager(self.client, choice.advertise_addr, progress)
        state = self._state()
        if manager.initialised:
            state["swarm_initialised"] = True  # `orbit hub down --leave-swarm` may undo it
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.folder / STATE_FILE, state)
        swarm.ensure_network(self.client, self.name, self.profile.name)
        if choice.registry is None:
            progress.warn(
                "no --registry: only this machine has the users' image, so servers the swarm "
                "places on other nodes cannot start"
            )
            return manager, user_image
        return manager, swarm.push(self.client, user_image, choice.registry, progress)

    def _ensure_image(self, repo: str, context: Any, progress: Progress, what: str) -> str:
        tag = f"{repo}:{context.digest()[:16]}"
        if dockerapi.image(self.client, tag) is None:
            dockerapi.build(self.client, context, tag, progress, what=what)
        return tag

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads((self.folder / STATE_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write(
        self,
        s: HubSettings,
        hub_dockerfile: str,
        user_dockerfile: str,
        rewrite: bool,
        progress: Progress,
    ) -> None:
        """Write the confection; a compose file edited since Orbit wrote it is kept as it is."""
        self.folder.mkdir(parents=True, exist_ok=True)
        env_file = self.folder / ENV_FILE
        if not env_file.exists():
            atomic.write_text(env_file, confection.render_env(confection.new_secrets()), mode=0o600)
        env_file.chmod(0o600)
        atomic.write_text(self.folder / HUB_CONTEXT / "Dockerfile", hub_dockerfile)
        atomic.write_text(self.folder / USER_DOCKERFILE, user_dockerfile)
        settings = hubconfig.stored(self.folder)
        atomic.write_text(self.folder / CONFIG_FILE, confection.render_config(s, settings))
        compose = self.folder / COMPOSE_FILE
        text = confection.render_compose(s, self.folder)
        state = self._state()
        current = compose.read_bytes() if compose.exists() else None
        if current is None or rewrite or self._ours(compose):
            atomic.write_text(compose, text)
            state["compose_sha256"] = _sha(text.encode())
        elif current is not None and _sha(current) != _sha(text.encode()):
            progress.warn(
                f"{compose} was edited, so it runs as you left it; `orbit hub up --rewrite` "
                "writes Orbit's version again"
            )
        state.update(
            port=s.port,
            project=str(s.project),
            profile=s.profile,
            hub_image=s.hub_image,
            user_image=s.user_image,
            swarm=s.swarm,
            devices=dict(s.devices),
        )
        atomic.write_json(self.folder / STATE_FILE, state)

    def _ours(self, compose: Path) -> bool:
        """Whether the compose file is exactly as Orbit last wrote it."""
        return _sha(compose.read_bytes()) == self._state().get("compose_sha256")

    def _published_port(self) -> int | None:
        hub = self._hub_container()
        if hub is None:
            return None
        bindings = (hub.attrs.get("NetworkSettings", {}).get("Ports") or {}).get("8000/tcp") or []
        return int(bindings[0]["HostPort"]) if bindings else None

    def _wait_for_api(self, info: HubInfo, timeout: float = 180) -> None:
        import httpx

        token = self.api_token()
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                r = httpx.get(
                    f"{info.url}hub/api/users",
                    headers={"Authorization": f"token {token}"},
                    timeout=5,
                )
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                last = str(e) or type(e).__name__
            hub = self._hub_container()
            if hub is not None and hub.status in ("exited", "dead"):
                break
            time.sleep(0.25)
        tail = self.hub_logs(tail=8)
        raise ServerError(
            f"JupyterHub did not answer at {info.url} ({last})",
            "see `orbit hub logs`" + (": " + " | ".join(tail) if tail else ""),
        )

    # -- settings (orbit hub config) -----------------------------------------------------------

    def hub_image(self) -> str:
        """The hub's image: where its settings are checked."""
        image = self._state().get("hub_image")
        if not image:
            raise OrbitError(
                f"no hub has been set up for profile {self.profile.name!r}",
                "run `orbit hub up` first: the hub's settings are checked against its own image",
            )
        return str(image)

    def apply_settings(self, progress: Progress) -> dict[str, Any]:
        """Write the hub's config with the stored settings and restart a running hub; users'
        servers keep running. Returns what happened to them."""
        state = self._state()
        settings = HubSettings(
            profile=self.profile.name,
            project=Path(state["project"]),
            port=int(state["port"]),
            hub_image=self.hub_image(),
            user_image=str(state["user_image"]),
            engine_socket=_engine_socket(),
            swarm=bool(state.get("swarm")),
            devices=state.get("devices") or {},
        )
        text = confection.render_config(settings, hubconfig.stored(self.folder))
        atomic.write_text(self.folder / CONFIG_FILE, text)
        hub = self._hub_container()
        if hub is None or hub.status != "running":
            return {"restarted": False, "kept": [], "lost": []}
        before = {c.name for c in self._user_containers() if c.status == "running"}
        progress.step("restart", f"the hub ({hub.name}); users' servers keep running")
        hub.restart(timeout=30)
        port = self._published_port() or settings.port
        info = HubInfo(
            self.profile.name, f"http://127.0.0.1:{port}/", port, self.folder, settings.project.name
        )
        self._wait_for_api(info)
        after = {c.name for c in self._user_containers() if c.status == "running"}
        return {"restarted": True, "kept": sorted(before & after), "lost": sorted(before - after)}

    # -- down, status, logs ------------------------------------------------------------------

    def down(self, *, volumes: bool, leave_swarm: bool = False) -> list[str]:
        """Stop the users' servers and the hub; with ``volumes``, delete their data too; with
        ``leave_swarm``, this engine leaves the swarm ``up --swarm`` made it a manager of."""
        removed = swarm.remove_services(self.client, self.profile.name)
        for c in self.client.containers.list(all=True, filters={"label": f"{LABEL_HUB}"}):
            if c.labels.get(LABEL_HUB) != self.profile.name:
                continue
            if c.labels.get("com.docker.compose.project"):
                continue  # the hub itself: compose stops it
            with contextlib.suppress(Exception):
                c.remove(force=True)
                removed.append(c.name)
        if (self.folder / COMPOSE_FILE).exists():
            self._compose("down", "--remove-orphans", *(["--volumes"] if volumes else []))
        if swarm.remove_network(self.client, self.name):
            removed.append(f"network {self.name}")
        if volumes:
            for v in self.client.volumes.list():
                if v.name.startswith(f"{self.name}-user-") or v.name == f"{self.name}-data":
                    with contextlib.suppress(Exception):
                        v.remove(force=True)
                        removed.append(f"volume {v.name}")
        if leave_swarm and swarm.leave(self.client):
            removed.append("this engine's place in the swarm (docker swarm leave --force)")
            state = self._state()
            state.pop("swarm_initialised", None)
            if (self.folder / STATE_FILE).exists():
                atomic.write_json(self.folder / STATE_FILE, state)
        return removed

    def status(self) -> dict[str, Any]:
        state = self._state()
        hub = self._hub_container()
        out: dict[str, Any] = {
            "profile": self.profile.name,
            "folder": str(self.folder),
            "compose_file": str(self.folder / COMPOSE_FILE),
            "env_file": str(self.folder / ENV_FILE),
            "project": state.get("project"),
            "running": hub is not None and hub.status == "running",
            "hub": {"name": hub.name, "status": hub.status} if hub is not None else None,
            "servers": [
                {"name": c.name, "status": c.status, "image": ", ".join(c.image.tags)}
                for c in self._user_containers()
            ],
            "services": [
                {"name": s.name, "image": s.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]}
                for s in swarm.services(self.client, self.profile.name)
            ],
        }
        port = self._published_port()
        if out["running"] and port:
            out["url"] = f"http://127.0.0.1:{port}/"
            with contextlib.suppress(Exception):
                out["users"] = self._users(out["url"])
        return out

    def _users(self, url: str) -> list[dict[str, Any]]:
        import httpx

        r = httpx.get(
            f"{url}hub/api/users", headers={"Authorization": f"token {self.api_token()}"}, timeout=5
        )
        r.raise_for_status()
        return [
            {"name": u["name"], "server": bool(u.get("server")), "admin": u.get("admin", False)}
            for u in r.json()
        ]

    def hub_logs(self, *, tail: int = 100) -> list[str]:
        hub = self._hub_container()
        if hub is None:
            return []
        text = hub.logs(tail=tail).decode(errors="replace")
        return [ln for ln in text.splitlines() if ln.strip()]

    def logs(self, *, follow: bool, tail: int, user: str | None) -> Iterator[bytes]:
        if user:
            found = [c for c in self._user_containers() if c.name == f"{self.name}-{user}"]
            if not found:
                raise OrbitError(
                    f"no server of user {user!r} is running in the hub of {self.profile.name!r}",
                    "see `orbit hub status` for the users' servers",
                )
            container = found[0]
        else:
            container = self._hub_container()
            if container is None:
                raise OrbitError(
                    f"the hub of profile {self.profile.name!r} is not running",
                    "start it with `orbit hub up`",
                )
        if follow:
            yield from container.logs(stream=True, follow=True, tail=tail)
        else:
            yield container.logs(tail=tail)

    def api_token(self) -> str:
        try:
            values = confection.read_env((self.folder / ENV_FILE).read_text())
        except FileNotFoundError:
            raise OrbitError(
                f"no hub has been set up for profile {self.profile.name!r}",
                "run `orbit hub up` first",
            ) from None
        return values["ORBIT_HUB_API_TOKEN"]

    def _hub_container(self) -> Any:
        found = self.client.containers.list(
            all=True,
            filters={
                "label": [f"com.docker.compose.project={self.name}", "org.jupyter.orbit.role=hub"]
            },
        )
        return found[0] if found else None

    def _user_containers(self) -> list[Any]:
        return [
            c
            for c in self.client.containers.list(all=True, filters={"label": LABEL_HUB})
            if c.labels.get(LABEL_HUB) == self.profile.name
            and not c.labels.get("com.docker.compose.project")
        ]

    def _compose(self, *args: str) -> str:
        cmd = [*compose_command(), "-p", self.name, "-f", str(self.folder / COMPOSE_FILE), *args]
        r = subprocess.run(cmd, cwd=self.folder, capture_output=True, text=True, env=os.environ)
        if r.returncode != 0:
            said = " | ".join(ln.strip() for ln in r.stderr.strip().splitlines()[-4:])
            raise BuildError(
                f"`{' '.join(cmd[: len(cmd) - len(args)])} {args[0]}` failed: {said}",
                f"check {self.folder / COMPOSE_FILE}; `orbit hub logs` shows the hub's own log",
            )
        return r.stdout


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host.removeprefix("unix://")
    return "/var/run/docker.sock"
