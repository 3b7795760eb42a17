"""How a profile's hub works: ``orbit hub config get|set|unset`` over the hub's own settings.

Settings are JupyterHub's traitlets (``Class.setting``: the authenticator, spawner limits and
options, named servers …), plus ``IdleCuller.*`` for jupyterhub-idle-culler. Each one is checked
where the classes are, in the hub's own image (``hubtraits``, run in a throwaway container with
no network), then held to Orbit's rules, decided by the setting it really is (the class that
defines the trait, whichever subclass or parent section names it):

- settings Orbit writes itself are refused with the reason (addresses and ports, the database,
  the proxy, Orbit's own service and roles, the spawner class, the users' image and network …);
- secrets are refused: they belong in ``hub.env`` (mode 0600), not in a config file;
- values that would expose the hub or users' servers beyond loopback, or hand users' containers
  the container engine (its socket, ``/``, privileged mode, the host's namespaces, root-equal
  capabilities), are refused.

What is accepted is kept in ``<profile>/hub/settings.json`` (read-modified-written under a lock)
and written at the end of ``jupyterhub_config.py`` (``confection``), where it wins; applying it
restarts the hub, which keeps the users' servers running (``JupyterHub.cleanup_servers`` is off).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError, OrbitError

SETTINGS_FILE = "settings.json"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
_SECRET = re.compile(r"(token|password|secret|credential|(^|_)key(file)?$)", re.IGNORECASE)

_ADDRESS = "Orbit publishes the hub on 127.0.0.1 only (`orbit hub up --port N` picks the port)"
_WIRING = "Orbit wires the hub, its proxy and the users' servers together"
_ORBIT = "Orbit manages the hub through this (its service, token and roles)"
_SERVERS = "Orbit keeps users' servers running across hub restarts"
_PROJECT = "the users' image is the project's (`orbit hub up PATH`)"
_SWARM = "chosen by `orbit hub up` (add --swarm for a Docker Swarm)"

# Settings Orbit writes itself (by the class that defines them).
OWNED: dict[str, str] = {
    **dict.fromkeys(
        (
            "JupyterHub.bind_url",
            "JupyterHub.ip",
            "JupyterHub.port",
            "JupyterHub.subdomain_host",
            "JupyterHub.ssl_cert",
            "JupyterHub.ssl_key",
            "JupyterHub.trusted_alt_names",
        ),
        _ADDRESS,
    ),
    **dict.fromkeys(
        (
            "JupyterHub.base_url",
            "JupyterHub.hub_bind_url",
            "JupyterHub.hub_ip",
            "JupyterHub.hub_port",
            "JupyterHub.hub_connect_url",
            "JupyterHub.hub_connect_ip",
            "JupyterHub.hub_connect_port",
            "JupyterHub.proxy_class",
            "JupyterHub.db_url",
            "JupyterHub.pid_file",
            "JupyterHub.internal_ssl",
            "Spawner.hub_connect_url",
            "DockerSpawner.network_name",
            "DockerSpawner.use_internal_ip",
            "DockerSpawner.use_internal_hostname",
            "DockerSpawner.prefix",
            "DockerSpawner.name_template",
            "DockerSpawner.extra_create_kwargs",
            "SwarmSpawner.extra_task_spec",
            "SwarmSpawner.extra_endpoint_spec",  # no ports published on every node
        ),
        _WIRING,
    ),
    **dict.fromkeys(
        ("JupyterHub.services", "JupyterHub.load_roles", "JupyterHub.api_tokens"), _ORBIT
    ),
    **dict.fromkeys(("JupyterHub.cleanup_servers", "JupyterHub.cleanup_proxy"), _SERVERS),
    "JupyterHub.spawner_class": _SWARM,
    "DockerSpawner.image": _PROJECT,
    "JupyterHub.config_file": "the hub reads the file Orbit writes, and nothing else",
    "JupyterHub.tornado_settings": "it would switch off the hub's request checks",
}
REFUSED_CLASSES = {"ConfigurableHTTPProxy": _WIRING, "Proxy": _WIRING}


# -- the settings file -------------------------------------------------------------------------


def settings_path(folder: Path) -> Path:
    return folder / SETTINGS_FILE


def stored(folder: Path) -> dict[str, dict[str, Any]]:
    """``{key: {"value": …, "canonical": …}}`` as set with ``orbit hub config set``."""
    path = settings_path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise InputError(
            f"cannot read the hub's settings: {e}", "fix or delete the file", path=path
        ) from None
    settings = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise InputError("the hub's settings file has no 'settings' table", path=path)
    return settings


def _save(folder: Path, settings: dict[str, dict[str, Any]]) -> None:
    atomic.write_json(settings_path(folder), {"settings": settings}, mode=0o600)


def _lock(folder: Path) -> Any:
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f".{SETTINGS_FILE}.lock")


# -- Orbit's rules ---------------------------------------------------------------------------


def refusal(key: str, canonical: str, value: Any) -> str | None:
    """Why ``key`` (which really sets ``canonical``) may not be set to ``value``; None: it may."""
    cls, name = canonical.split(".", 1)
    asked_cls = key.split(".", 1)[0]
    if why := REFUSED_CLASSES.get(cls) or REFUSED_CLASSES.get(asked_cls):
        return why
    if _SECRET.search(name):
        return "secrets belong in hub.env (mode 0600), never in a config file"
    if canonical == "DockerSpawner.host_ip":
        return None if _loopback(str(value)) else f"{_ADDRESS}: {value!r} is not loopback"
    if canonical in OWNED:
        return OWNED[canonical]
    if why := _exposure(canonical, value):
        return why
    return None


def _exposure(canonical: str, value: Any) -> str | None:
    """What in ``value`` hands users' containers the host, or publishes them beyond loopback."""
    from jupyter_orbit.engines.container_options import findings

    service: dict[str, Any] = {}
    if canonical in ("DockerSpawner.volumes", "DockerSpawner.read_only_volumes"):
        service["volumes"] = [f"{src}:/x" for src in _mapping(value)]
    elif canonical == "DockerSpawner.mounts":
        service["volumes"] = [_mount(m) for m in _items(value)]
    elif canonical == "DockerSpawner.extra_host_config":
        service = _host_config(_mapping(value))
    elif canonical == "SwarmSpawner.extra_container_spec":
        spec = _mapping(value)
        service = {
            "volumes": [_mount(m) for m in _items(spec.get("mounts"))],
            "cap_add": spec.get("cap_add"),
            "privileged": bool(spec.get("privileges")) or None,
        }
    found = list(findings(service))
    if not found:
        return None
    reason = found[0].reason.replace("the container engine's socket", "the engine's socket")
    return f"it {reason} in users' containers"


def _host_config(hc: Mapping[str, Any]) -> dict[str, Any]:
    """docker-py's host config keywords as the Compose service keys ``findings`` reads."""
    binds = hc.get("binds") or []
    volumes = [f"{src}:/x" for src in binds] if isinstance(binds, Mapping) else list(binds)
    volumes += [_mount(m) for m in _items(hc.get("mounts"))]
    ports = []
    for bound in _mapping(hc.get("port_bindings")).values():
        for b in bound if isinstance(bound, list) else [bound]:
            ip = b[0] if isinstance(b, list | tuple) and len(b) > 1 else None
            ports.append(f"{ip}:1:1" if ip else "1:1")
    if hc.get("publish_all_ports"):
        ports.append("1:1")
    service = {
        "privileged": hc.get("privileged"),
        "volumes": volumes,
        "ports": ports,
        "cap_add": hc.get("cap_add"),
        "security_opt": hc.get("security_opt"),
    }
    for ns, key in (
        ("network_mode", "network_mode"),
        ("pid", "pid_mode"),
        ("ipc", "ipc_mode"),
        ("uts", "uts_mode"),
        ("userns_mode", "userns_mode"),
        ("cgroup", "cgroupns"),
    ):
        service[ns] = hc.get(key)
    return service


def _mount(m: Any) -> Any:
    if not isinstance(m, Mapping):
        return m
    source = m.get("source", m.get("Source"))
    kind = str(m.get("type", m.get("Type", "volume")))
    return {"type": kind, "source": source} if source else {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- asking the hub's image --------------------------------------------------------------------


def ask(client: Any, image: str, request: dict[str, Any]) -> dict[str, Any]:
    """``hubtraits``' answer to ``request``, from a throwaway container of the hub's image
    (no network; the request is copied in, never put on a command line)."""
    script = Path(__file__).with_name("hubtraits.py").read_bytes()
    payload = json.dumps(request).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("hubtraits.py", script), ("request.json", payload)):
            info = tarfile.TarInfo(f"orbit-check/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    container = client.containers.create(
        image,
        ["python", "-I", "/tmp/orbit-check/hubtraits.py", "/tmp/orbit-check/request.json"],
        network_disabled=True,
        labels={"org.jupyter.orbit.role": "hub-check"},
    )
    try:
        container.put_archive("/tmp", archive.getvalue())
        container.start()
        status = container.wait(timeout=120).get("StatusCode", 1)
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        err = container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    if status != 0:
        tail = " | ".join(err.strip().splitlines()[-3:])
        raise OrbitError(
            f"the hub's image {image} could not check the settings: {tail}",
            "run `orbit hub up` to build the hub's image again",
        )
    return json.loads(out)


def _checked(answer: dict[str, Any], key: str) -> dict[str, Any]:
    [result] = [r for r in answer["results"] if r["key"] == key]
    if not result["ok"]:
        raise InputError(result["error"], result["hint"])
    return result


# -- get / set / unset -------------------------------------------------------------------------


def set_value(client: Any, image: str, folder: Path, key: str, raw: str) -> tuple[Any, Any | None]:
    """Check ``key = raw`` against the hub's classes and Orbit's rules, and store it; returns
    (the value stored, the one it replaced)."""
    _check_key(key)
    result = _checked(ask(client, image, {"check": [{"key": key, "raw": raw}]}), key)
    value, canonical = result["value"], result["canonical"]
    if (why := refusal(key, canonical, value)) is not None:
        where = f" (it sets {canonical})" if canonical != key else ""
        raise InputError(f"{key}{where} cannot be set for the hub: {why}", "leave it out")
    with _lock(folder):
        settings = stored(folder)
        previous = settings.get(key, {}).get("value")
        settings[key] = {"value": value, "canonical": canonical}
        _save(folder, settings)
    return value, previous


def unset(folder: Path, key: str) -> Any:
    """Remove ``key`` from the stored settings; returns its value."""
    _check_key(key)
    with _lock(folder):
        settings = stored(folder)
        if key not in settings:
            raise InputError(
                f"{key} is not set for the hub",
                "`orbit hub config get` lists what is set",
                path=settings_path(folder),
            )
        previous = settings.pop(key)["value"]
        _save(folder, settings)
    return previous


def get(client: Any, image: str, folder: Path, key: str) -> dict[str, Any]:
    """A setting's value (set, or its default), or a class's settings (``key`` without a dot)."""
    settings = stored(folder)
    if "." not in key:
        answer = ask(client, image, {"describe": key})
        if problem := answer.get("describe_error"):
            raise InputError(problem["error"], problem["hint"])
        rows = []
        for row in answer["describe"]:
            mine = settings.get(row["key"])
            rows.append(
                {
                    **row,
                    "set": mine is not None,
                    "value": mine["value"] if mine else row["default"],
                    "refused": _owned(row["key"], row["canonical"]),
                }
            )
        return {"class": key, "settings": rows}
    _check_key(key)
    if key in settings:
        return {"key": key, "value": settings[key]["value"], "set": True}
    cls = key.split(".", 1)[0]
    answer = ask(client, image, {"describe": cls})
    if problem := answer.get("describe_error"):
        raise InputError(problem["error"], problem["hint"])
    for row in answer["describe"]:
        if row["key"] == key:
            return {"key": key, "value": row["default"], "set": False}
    raise InputError(
        f"{cls} has no setting {key.split('.', 1)[1]!r}", f"`orbit hub config get {cls}`"
    )


def _owned(key: str, canonical: str) -> str | None:
    cls = canonical.split(".", 1)[0]
    return (
        REFUSED_CLASSES.get(cls) or REFUSED_CLASSES.get(key.split(".")[0]) or OWNED.get(canonical)
    )


def _check_key(key: str) -> None:
    if not _KEY.match(key):
        raise InputError(
            f"{key!r} is not a setting name",
            "write Class.setting, e.g. Spawner.mem_limit or JupyterHub.allow_named_servers",
        )
