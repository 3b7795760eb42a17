"""Container options in Compose's service syntax: which ones reach into the host, and how the
ones a kernel container accepts map onto the Docker Engine API.

Two inputs speak this syntax: a notebook's ``metadata.orbit.container`` (options for its kernel's
container) and the services of a ``docker-compose.yml`` (the local hub). Some options hand the
container the host itself: privileged mode, the container engine's socket (whoever holds it
controls every container and the host), a bind mount of ``/``, the host's namespaces, ports
published on every interface. Those are refused unless the user passes ``--allow-host-access``;
each refusal names the file, the key (and the line, for YAML) and the fix.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_orbit.errors import InputError

ALLOW_FLAG = "--allow-host-access"

# Where container engines listen; mounting one of these, or a folder holding one, hands over
# the engine.
ENGINE_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
)
_SOCKET_NAMES = ("docker", "podman", "containerd", "crio")
_HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
# Capabilities that are as good as privileged mode.
_ROOT_CAPS = {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "DAC_READ_SEARCH", "BPF"}
_UNCONFINED = ("seccomp", "apparmor", "systempaths")

# What a kernel container accepts from notebook metadata.
KERNEL_KEYS = (
    "volumes",
    "ports",
    "environment",
    "devices",
    "shm_size",
    "mem_limit",
    "cpus",
    "cap_add",
    "security_opt",
    "privileged",
    *_HOST_NAMESPACES,
)


@dataclass(frozen=True)
class Finding:
    """One option that reaches into the host: its key path and why it matters."""

    key: str
    reason: str


def engine_socket_paths() -> tuple[str, ...]:
    """Known engine sockets plus the one ``DOCKER_HOST`` names, if it is a unix socket."""
    host = os.environ.get("DOCKER_HOST", "")
    extra = (host.removeprefix("unix://"),) if host.startswith("unix://") else ()
    return ENGINE_SOCKETS + extra


def reaches_engine(source: str) -> bool:
    """Whether bind-mounting ``source`` exposes a container engine's socket."""
    candidates = {os.path.normpath(source)}
    with contextlib.suppress(OSError):  # a symlink to the socket counts too
        candidates.add(str(Path(source).resolve()))
    for cand in candidates:
        p = PurePosixPath(cand)
        if p.name.endswith(".sock") and any(n in p.name for n in _SOCKET_NAMES):
            return True
        for sock in engine_socket_paths():
            s = PurePosixPath(sock)
            if p == s or p in s.parents:
                return True
    return False


def _is_root(source: str) -> bool:
    return os.path.normpath(source) == "/"


def _loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_port(spec: str) -> tuple[str | None, str | None, str]:
    """``[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`` → (host ip, host port, container port)."""
    rest = spec
    ip = None
    if rest.startswith("["):  # [::1]:8080:80
        end = rest.index("]")
        ip, rest = rest[1:end], rest[end + 2 :]
        host, _, container = rest.rpartition(":")
        return ip, host or None, container
    parts = rest.split(":")
    if len(parts) == 1:
        return None, None, parts[0]
    if len(parts) == 2:
        return None, parts[0] or None, parts[1]
    return ":".join(parts[:-2]), parts[-2] or None, parts[-1]


def _volume_source(item: Any) -> tuple[str | None, str]:
    """(host path or None, how it is written) for a short or long volume entry."""
    if isinstance(item, str):
        parts = item.split(":")
        if len(parts) >= 2 and parts[0].startswith(("/", ".", "~")):
            return str(Path(parts[0]).expanduser()), item
        return None, item  # a named or anonymous volume
    if isinstance(item, Mapping):
        kind = item.get("type", "volume")
        source = item.get("source")
        if kind == "bind" and isinstance(source, str):
            return str(Path(source).expanduser()), f"bind {source}"
    return None, str(item)


def findings(service: Mapping[str, Any], *, key: str = "") -> Iterator[Finding]:
    """Every option of one service (Compose syntax) that reaches into the host."""
    prefix = f"{key}." if key else ""
    if service.get("privileged") is True:
        yield Finding(f"{prefix}privileged", "asks for a privileged container (the host's root)")
    for i, item in enumerate(_as_list(service.get("volumes"))):
        source, written = _volume_source(item)
        if source is None:
            continue
        where = f"{prefix}volumes[{i}]"
        if _is_root(source):
            yield Finding(where, f"mounts the host's root folder ({written})")
        elif reaches_engine(source):
            yield Finding(
                where,
                f"mounts the container engine's socket ({written}): whoever holds it controls "
                "every container and the host",
            )
    for ns in _HOST_NAMESPACES:
        if service.get(ns) == "host":
            yield Finding(f"{prefix}{ns}", f"shares the host's {_ns_name(ns)} ({ns}: host)")
    for i, item in enumerate(_as_list(service.get("ports"))):
        where = f"{prefix}ports[{i}]"
        if isinstance(item, Mapping):
            ip = item.get("host_ip")
            if ip is None or not _loopback(str(ip)):
                yield Finding(where, f"publishes a port on {ip or 'every interface'}")
            continue
        ip, _, _ = split_port(str(item))
        if ip is None or not _loopback(ip):
            yield Finding(
                where,
                f"publishes {item!s} on {ip or 'every interface'} (reachable from other machines)",
            )
    for i, cap in enumerate(_as_list(service.get("cap_add"))):
        if str(cap).upper().removeprefix("CAP_") in _ROOT_CAPS:
            yield Finding(f"{prefix}cap_add[{i}]", f"adds the {cap} capability (as good as root)")
    for i, opt in enumerate(_as_list(service.get("security_opt"))):
        text = str(opt).replace("=", ":")
        if text in ("label:disable",) or any(text == f"{u}:unconfined" for u in _UNCONFINED):
            yield Finding(f"{prefix}security_opt[{i}]", f"turns confinement off ({opt})")


def _ns_name(ns: str) -> str:
    return {
        "network_mode": "network",
        "pid": "processes",
        "ipc": "shared memory",
        "uts": "host name",
        "userns_mode": "user namespace",
        "cgroup": "cgroups",
    }[ns]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def refuse(
    found: list[Finding],
    *,
    path: Path | None,
    line_of: Callable[[str], int | None] | None = None,
) -> None:
    """Raise one ``InputError`` for ``found`` (the first finding, and how many more)."""
    if not found:
        return
    first = found[0]
    more = f" (and {len(found) - 1} more such option{'s' * (len(found) > 2)})" if found[1:] else ""
    raise InputError(
        f"{first.key} {first.reason}{more}",
        f"remove it, or pass {ALLOW_FLAG} if you mean to give the container this access",
        path=path,
        line=line_of(first.key) if line_of else None,
    )


# -- a kernel container's options (notebook metadata) ----------------------------------------


def kernel_options(
    options: Any, *, path: Path | None, base_dir: Path, allow_host_access: bool
) -> dict[str, Any]:
    """Check ``metadata.orbit.container`` and return it with relative bind sources resolved."""
    key = "metadata.orbit.container"
    if not isinstance(options, Mapping):
        raise InputError(
            f"{key} must be an object of Compose service options, not {type(options).__name__}",
            'write e.g. {"volumes": ["./data:/data:ro"], "ports": ["127.0.0.1:8050:8050"]}',
            path=path,
        )
    unknown = sorted(k for k in options if k not in KERNEL_KEYS)
    if unknown:
        raise InputError(
            f"{key} has options a kernel container does not take: {', '.join(unknown)}",
            f"use only: {', '.join(KERNEL_KEYS)}",
            path=path,
        )
    out = dict(options)
    if "volumes" in out:
        out["volumes"] = [
            _absolute_volume(v, base_dir, f"{key}.volumes", path) for v in out["volumes"]
        ]
    if not allow_host_access:
        refuse(list(findings(out, key=key)), path=path)
    return out


def _absolute_volume(item: Any, base: Path, key: str, path: Path | None) -> Any:
    if isinstance(item, str):
        parts = item.split(":")
        if len(parts) < 2:
            raise InputError(
                f"{key}: {item!r} names no host folder",
                'write "HOST_PATH:CONTAINER_PATH[:ro]" or "VOLUME_NAME:CONTAINER_PATH"',
                path=path,
            )
        if parts[0].startswith((".", "~")):
            parts[0] = str((base / Path(parts[0]).expanduser()).resolve())
        return ":".join(parts)
    if isinstance(item, Mapping) and item.get("type") == "bind" and "source" in item:
        src = Path(str(item["source"])).expanduser()
        return {**item, "source": str((base / src).resolve())}
    if isinstance(item, Mapping):
        return dict(item)
    raise InputError(f"{key}: {item!r} is not a volume", "write a string or an object", path=path)


def create_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Checked kernel options as keyword arguments of docker-py's ``containers.create``."""
    from docker.types import Mount

    kw: dict[str, Any] = {}
    binds: list[str] = []
    mounts: list[Mount] = []
    for item in options.get("volumes", ()):
        if isinstance(item, str):
            binds.append(item)
        else:
            mounts.append(
                Mount(
                    target=item["target"],
                    source=item.get("source"),
                    type=item.get("type", "volume"),
                    read_only=bool(item.get("read_only", False)),
                )
            )
    if binds:
        kw["volumes"] = binds
    if mounts:
        kw["mounts"] = mounts
    ports: dict[str, Any] = {}
    for item in options.get("ports", ()):
        if isinstance(item, Mapping):
            proto = item.get("protocol", "tcp")
            ports[f"{item['target']}/{proto}"] = (item.get("host_ip"), item.get("published"))
        else:
            ip, host, container = split_port(str(item))
            port, _, proto = container.partition("/")
            ports[f"{port}/{proto or 'tcp'}"] = (ip, int(host)) if host else (ip,)
    if ports:
        kw["ports"] = ports
    env = options.get("environment")
    if isinstance(env, Mapping):
        kw["environment"] = {str(k): "" if v is None else str(v) for k, v in env.items()}
    elif env:
        kw["environment"] = [str(e) for e in env]
    for ours, theirs in (
        ("devices", "devices"),
        ("shm_size", "shm_size"),
        ("mem_limit", "mem_limit"),
        ("cap_add", "cap_add"),
        ("security_opt", "security_opt"),
        ("privileged", "privileged"),
        ("network_mode", "network_mode"),
        ("pid", "pid_mode"),
        ("ipc", "ipc_mode"),
        ("uts", "uts_mode"),
        ("userns_mode", "userns_mode"),
        ("cgroup", "cgroupns"),
    ):
        if ours in options:
            kw[theirs] = options[ours]
    if "cpus" in options:
        kw["nano_cpus"] = int(float(options["cpus"]) * 1e9)
    return kw
