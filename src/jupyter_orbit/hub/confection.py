"""The files of a profile's local hub, rendered as pure functions of its settings.

- ``docker-compose.yml``: a plain Compose-spec file anyone can run (``docker compose -p NAME up
  -d``): the hub service (JupyterHub, which starts configurable-http-proxy, published on
  127.0.0.1 only) and a build-only service for the users' image. It names no secret.
- ``jupyterhub_config.py``: DockerSpawner starting each user's server from the project's image,
  on the hub's own network, a named volume per user for their notebooks, no capabilities, no
  engine socket; a dummy authenticator with one generated password, and an API token for Orbit.
- ``hub.env`` (mode 0600): the generated secrets, read by Compose into the hub's environment.
- ``user.Dockerfile`` and ``hub-image/Dockerfile``: how the two images are built.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit.hardware.needs import hub_config_lines
from jupyter_orbit.imagelayout import USER_HOME, WORK_DIR

COMPOSE_FILE = "docker-compose.yml"
CONFIG_FILE = "jupyterhub_config.py"
ENV_FILE = "hub.env"
USER_DOCKERFILE = "user.Dockerfile"
HUB_CONTEXT = "hub-image"
LABEL_HUB = "org.jupyter.orbit.hub"  # on every container a profile's hub starts
ROLE_HUB = "hub"  # the value of org.jupyter.orbit.role on the hub service
SECRET_KEYS = ("JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN", "ORBIT_HUB_API_TOKEN")
PASSWORD_KEY = "ORBIT_HUB_PASSWORD"


def slug(profile: str) -> str:
    """A Compose project / network / volume name for a profile (lowercase, safe characters)."""
    return "orbit-hub-" + re.sub(r"[^a-z0-9_-]", "-", profile.lower())


@dataclass(frozen=True)
class HubSettings:
    profile: str
    project: Path  # the project folder whose environment and files users get
    port: int  # published on 127.0.0.1
    hub_image: str
    user_image: str
    engine_socket: str  # the host's container engine socket, for DockerSpawner only
    swarm: bool = False  # users' servers as Docker Swarm services (SwarmSpawner)
    # What users' servers get of the machine: GPU device requests (hub/devices.py)
    devices: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return slug(self.profile)


def render_compose(s: HubSettings, folder: Path) -> str:
    """The compose file. Built with ruamel.yaml so values are quoted as YAML needs."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def seq(*items: object, flow: bool = False) -> CommentedSeq:
        out = CommentedSeq(items)
        if flow:
            out.fa.set_flow_style()
        return out

    volumes = seq(
        f"{s.engine_socket}:/var/run/docker.sock",
        f"./{CONFIG_FILE}:/srv/jupyterhub/{CONFIG_FILE}:ro",
        "hub-data:/srv/jupyterhub/data",
    )
    volumes.yaml_add_eol_comment(
        "DockerSpawner starts users' servers; users' containers never get it", 0
    )
    hub = CommentedMap(
        image=s.hub_image,
        build=CommentedMap(context=f"./{HUB_CONTEXT}"),
        restart="unless-stopped",
        ports=seq(f"127.0.0.1:{s.port}:8000"),
        env_file=seq(f"./{ENV_FILE}"),
        environment=CommentedMap(
            ORBIT_HUB_PROFILE=s.profile,
            ORBIT_USER_IMAGE=s.user_image,
            ORBIT_NETWORK=s.name,
        ),
        volumes=volumes,
        cap_drop=seq("ALL", flow=True),
        security_opt=seq("no-new-privileges:true", flow=True),
        labels=CommentedMap({"org.jupyter.orbit.role": ROLE_HUB, LABEL_HUB: s.profile}),
        networks=seq("hub", flow=True),
    )
    user = CommentedMap(
        image=s.user_image,
        build=CommentedMap(context=str(s.project), dockerfile=str(folder / USER_DOCKERFILE)),
        profiles=seq("build", flow=True),
    )
    services = CommentedMap(hub=hub)
    services["user-image"] = user
    services.yaml_set_comment_before_after_key(
        "user-image",
        before="Build-only (profile 'build'): the image every user's server runs: the "
        "project's\nenvironment, JupyterLab and the project's files.",
        indent=2,
    )
    # In a swarm the network is an attachable overlay Orbit makes (users' servers may run on
    # other nodes); Compose only attaches the hub to it.
    network = CommentedMap(name=s.name, external=True) if s.swarm else CommentedMap(name=s.name)
    doc = CommentedMap(
        services=services,
        networks=CommentedMap(hub=network),
        volumes=CommentedMap({"hub-data": CommentedMap(name=f"{s.name}-data")}),
    )
    doc.yaml_set_start_comment(
        f"The local JupyterHub of Jupyter Orbit's profile {s.profile!r}, for the project\n"
        f"{s.project}.\n"
        "Written by `orbit hub up`, which runs this file as it is: edit it and your version is\n"
        "what runs (Orbit rewrites it only while it is exactly as Orbit wrote it).\n"
        f"Run it yourself: docker compose -p {s.name} up -d   (or docker-compose)\n"
        f"Secrets are in {ENV_FILE} (mode 0600), never in this file."
    )
    out = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.dump(doc, out)
    return out.getvalue()


def render_config(s: HubSettings, settings: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """jupyterhub_config.py: settings that vary come from the environment compose passes;
    ``settings`` (``orbit hub config set``) come last, so they win."""
    swarm = _swarm_config() if s.swarm else ""
    return _config(s) + hub_config_lines(s.devices) + swarm + render_settings(settings or {})


def _config(s: HubSettings) -> str:
    return f'''\
# JupyterHub configuration of Jupyter Orbit's local hub (profile {s.profile!r}).
# Written by `orbit hub up`; mounted read-only into the hub container. Secrets come from the
# environment (hub.env), never from this file.
import os

c = get_config()  # noqa: F821

profile = os.environ["ORBIT_HUB_PROFILE"]
name = os.environ["ORBIT_NETWORK"]

# The proxy listens on 8000 (published on 127.0.0.1 only); users' servers reach the hub by name.
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://hub:8081"
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
c.ConfigurableHTTPProxy.pid_file = "/srv/jupyterhub/data/proxy.pid"

# Each user's server: a container of the project's image, on the hub's network only, with a
# named volume of their own for notebooks, no capabilities, and never the engine's socket.
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = os.environ["ORBIT_USER_IMAGE"]
c.DockerSpawner.pull_policy = "never"
c.DockerSpawner.network_name = name
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.prefix = name
c.DockerSpawner.notebook_dir = "{WORK_DIR}"
c.DockerSpawner.volumes = {{name + "-user-{{username}}": "{WORK_DIR}"}}
c.DockerSpawner.extra_create_kwargs = {{"labels": {{"{LABEL_HUB}": profile}}}}
orbit_host_config = {{
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "privileged": False,
}}
c.DockerSpawner.extra_host_config = dict(orbit_host_config)
orbit_container_spec = {{"cap_drop": ["ALL"], "labels": {{"{LABEL_HUB}": profile}}}}
c.DockerSpawner.environment = {{"HOME": "{USER_HOME}"}}
# Restarting the hub (to apply `orbit hub config set`) leaves users' servers running.
c.JupyterHub.cleanup_servers = False
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 300

# One generated password (in hub.env) lets anyone who can reach 127.0.0.1 log in under any
# name; Orbit itself uses an API token (a service) to manage users and servers.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ["{PASSWORD_KEY}"]
c.Authenticator.allow_all = True
c.JupyterHub.services = [{{"name": "orbit", "api_token": os.environ["ORBIT_HUB_API_TOKEN"]}}]
c.JupyterHub.load_roles = [
    {{
        "name": "orbit",
        "services": ["orbit"],
        "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"],
    }}
]
'''


def _swarm_config() -> str:
    return f'''
# A swarm: each user's server is a service, possibly on another node, on the hub's overlay
# network; its image comes from the registry every node pulls from (ORBIT_USER_IMAGE); a named
# volume of its own on the node it runs on; no capabilities, no published port.
c.JupyterHub.spawner_class = "dockerspawner.SwarmSpawner"
c.SwarmSpawner.pull_policy = "ifnotpresent"  # the hub inspects the image on this manager
c.SwarmSpawner.volumes = {{}}
c.SwarmSpawner.extra_create_kwargs = {{"labels": {{"{LABEL_HUB}": profile}}}}
c.SwarmSpawner.extra_container_spec = dict(orbit_container_spec)
# The hub reaches each server by its service name: straight to the task (DNS round robin), as a
# container attached to an overlay network cannot count on the service's virtual IP.
c.SwarmSpawner.extra_endpoint_spec = {{"mode": "dnsrr"}}


def orbit_user_volume(spawner):
    mount = name + "-user-" + spawner.escaped_name + ":{WORK_DIR}"
    spawner.extra_container_spec = {{**spawner.extra_container_spec, "mounts": [mount]}}


c.Spawner.pre_spawn_hook = orbit_user_volume
'''


# Dictionaries Orbit fills itself: a setting adds to them, and Orbit's own entries are put back.
_MERGED = {
    "DockerSpawner.extra_host_config": "orbit_host_config",
    "SwarmSpawner.extra_container_spec": "orbit_container_spec",
}
# jupyterhub-idle-culler's options, by IdleCuller setting (true/false flags as the culler spells)
_CULLER = {
    "timeout": "--timeout",
    "cull_every": "--cull-every",
    "max_age": "--max-age",
    "cull_users": "--cull-users",
    "remove_named_servers": "--remove-named-servers",
    "cull_admin_users": "--cull-admin-users",
}


def render_settings(settings: Mapping[str, Mapping[str, Any]]) -> str:
    """The settings made with ``orbit hub config set``, as lines of jupyterhub_config.py.

    Values are JSON data, written as Python literals (``repr`` of str, int, float, bool, None,
    lists and dicts of them), so no setting can add code. ``IdleCuller.*`` becomes the
    jupyterhub-idle-culler service and its role.
    """
    if not settings:
        return ""
    lines = ["", "# Set with `orbit hub config set` (checked against the hub's own classes)."]
    culler: dict[str, Any] = {}
    restore = []
    for key, item in sorted(settings.items()):
        value, canonical = item["value"], item.get("canonical", key)
        if canonical.startswith("IdleCuller."):
            culler[canonical.split(".", 1)[1]] = value
        elif canonical in _MERGED:
            lines.append(f"c.{key}.update({value!r})")
            restore.append(f"c.{key}.update({_MERGED[canonical]})  # Orbit's own, kept")
        else:
            lines.append(f"c.{key} = {value!r}")
    lines += restore
    if culler.get("timeout"):
        args = [
            f"{_CULLER[k]}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in sorted(culler.items())
            if k in _CULLER and v is not None and (isinstance(v, bool) or v != 0)
        ]
        scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
        if culler.get("cull_users"):
            scopes.append("admin:users")
        command = ["python3", "-m", "jupyterhub_idle_culler", *args]
        lines += [
            "c.JupyterHub.services.append(",
            f"    {{'name': 'idle-culler', 'command': {command!r}}}",
            ")",
            "c.JupyterHub.load_roles.append(",
            f"    {{'name': 'idle-culler', 'services': ['idle-culler'], 'scopes': {scopes!r}}}",
            ")",
        ]
    return "\n".join(lines) + "\n"


def new_secrets() -> dict[str, str]:
    values = {key: secrets.token_hex(32) for key in SECRET_KEYS}
    values[PASSWORD_KEY] = secrets.token_urlsafe(18)
    return values


def render_env(values: dict[str, str]) -> str:
    lines = ["# Secrets of Orbit's local hub (keep this file private: mode 0600)."]
    lines += [f"{k}={v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def read_env(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip()
    return out
