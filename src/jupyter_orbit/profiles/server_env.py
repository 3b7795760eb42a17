"""The profile's server environment: a pinned JupyterLab, Orbit itself, the chosen extensions.

It is a content-addressed environment built by the local engine from an ``EnvSpec`` that nothing
in a project can touch, kept apart from kernel environments (``envs/server/<id>``) but sharing
their bytecode store. Profiles that ask for the same thing share one.

How Orbit gets into it: the same distribution of Orbit that is running is installed there —
from a source checkout as an editable install (so the server runs the code being worked on),
from a local wheel or folder by that path, otherwise from the package index at the same
version. A ``.pth`` line pointing at Orbit's own site-packages would have been quicker but lets
every package of Orbit's environment (another JupyterLab among them) leak into the server's,
and one pointing at Orbit's source alone misses its entry points (the kernel provisioner).

Every other package is held at the version Orbit itself runs with (its installed dependency
tree, as constraints) while the profile uses the same JupyterLab: a new profile then costs no
download and no resolution surprise, and its id is the same for every such profile.
"""

from __future__ import annotations

import functools
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement as PkgRequirement
from packaging.utils import canonicalize_name

from jupyter_orbit import __version__
from jupyter_orbit.engines.local import LocalEngine
from jupyter_orbit.model import Environment, EnvSpec, Origin, Requirement
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.server import lifecycle
from jupyter_orbit.server.lifecycle import ServerLaunch
from jupyter_orbit.settings import Settings
from jupyter_orbit.state import ServerState

KIND = "jupyter-server"  # the spec's "kernel" field: keeps server ids apart from kernel ids
_ORIGIN = Origin("profile server environment", None, None, 4)


class ServerEngine(LocalEngine):
    """The local engine, building into ``envs/server/`` instead of ``envs/local/``."""

    stores = "server environment"

    @property
    def root(self) -> Path:
        return self.paths.envs_dir("server")


def own_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def orbit_requirement() -> str:
    """The requirement line that installs the Orbit that is running (see the module's doc)."""
    try:
        raw = metadata.distribution("jupyter-orbit").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        raw = None
    return requirement_from_direct_url(json.loads(raw) if raw else None)


def requirement_from_direct_url(info: dict | None) -> str:
    """From PEP 610's ``direct_url.json`` of an installed Orbit (None: it came from an index)."""
    info = info or {}
    url = info.get("url", "")
    if url.startswith("file://"):
        if Path(url.removeprefix("file://")).exists():
            if info.get("dir_info", {}).get("editable"):
                return f"-e {url}"
            return f"jupyter-orbit @ {url}"
    elif url and (vcs := info.get("vcs_info")):
        commit = vcs.get("commit_id")
        return f"jupyter-orbit @ {vcs['vcs']}+{url}" + (f"@{commit}" if commit else "")
    elif url:
        return f"jupyter-orbit @ {url}"
    return f"jupyter-orbit=={__version__}"


# Extras for developing Orbit, never wanted in a server.
_DEVELOPMENT_EXTRAS = frozenset({"test", "bench"})


@functools.cache
def installed_extras() -> dict[str, tuple[str, ...]]:
    """Orbit's optional features installed with the running Orbit (every package of the extra
    present), with their requirement lines: the server gets them too (its kernel provisioner
    runs the same engines: the ``remote`` extra's SSH client, for one)."""
    try:
        dist = metadata.distribution("jupyter-orbit")
    except metadata.PackageNotFoundError:
        return {}
    out: dict[str, list[str]] = {}
    for extra in dist.metadata.get_all("Provides-Extra") or ():
        if extra in _DEVELOPMENT_EXTRAS:
            continue
        lines = [
            f"{r.name}{r.specifier}"
            for r in map(PkgRequirement, dist.requires or ())
            if r.marker is not None and r.marker.evaluate({"extra": extra})
        ]
        if lines and all(own_version(PkgRequirement(x).name) for x in lines):
            out[extra] = lines
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def own_constraints() -> tuple[str, ...]:
    """``name==version`` for every package Orbit's own installation depends on (transitively),
    with the extras it has installed."""
    pins: dict[str, str] = {}
    todo = [
        "jupyter-orbit",
        *(PkgRequirement(x).name for v in installed_extras().values() for x in v),
    ]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = dist.version
        for line in dist.requires or ():
            req = PkgRequirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    pins.pop("jupyter-orbit", None)
    return tuple(f"{n}=={v}" for n, v in sorted(pins.items()))


def server_spec(settings: Settings) -> EnvSpec:
    server = settings.server
    chosen = set(server.extension_names())
    requirements = [
        Requirement("pypi", "jupyterlab", f"jupyterlab=={server.jupyterlab}", _ORIGIN),
        Requirement("pypi", "jupyter-orbit", orbit_requirement(), _ORIGIN),
    ]
    for name, text in server.extension_names().items():
        requirements.append(
            Requirement("pypi", name, text, Origin("profile extension", None, None, 1))
        )
    for extra, lines in installed_extras().items():
        origin = Origin(f"Orbit's {extra} extra", None, None, 4)
        for line in lines:
            name = canonicalize_name(PkgRequirement(line).name)
            if name not in chosen:
                requirements.append(Requirement("pypi", name, line, origin))
    constraints = [f"jupyter-orbit=={__version__}"]
    if own_version("jupyterlab") == server.jupyterlab:
        constraints += [
            c for c in own_constraints() if canonicalize_name(c.split("==")[0]) not in chosen
        ]
    return EnvSpec(
        kernel=KIND,
        python=server.python,
        requirements=tuple(sorted(requirements)),
        constraints=tuple(Requirement("pypi", c.split("==")[0], c) for c in constraints),
    )


def lookup(paths: Paths, settings: Settings) -> Environment | None:
    return ServerEngine(paths).lookup(server_spec(settings))


def ensure(paths: Paths, settings: Settings, progress: Progress | None = None) -> Environment:
    """The environment for ``settings``, built now if no profile has built it before."""
    progress = progress or NullProgress()
    engine = ServerEngine(paths)
    spec = server_spec(settings)
    if env := engine.lookup(spec):
        return env
    n = len(settings.server.extensions)
    progress.step(
        "server environment",
        f"JupyterLab {settings.server.jupyterlab}"
        + (f" + {n} extension{'s' * (n != 1)}" if n else "")
        + f" on Python {settings.server.python} (built once, shared by profiles that match)",
    )
    return engine.realize(engine.plan(spec), progress)


def launch_args(settings: Settings) -> tuple[str, ...]:
    d = settings.defaults
    memory = d.pool_memory_mb  # None: the server sizes the pool's budget from the RAM
    return (
        f"--OrbitExtension.pool_per_env={d.pool_per_env}",
        f"--OrbitExtension.pool_max_envs={d.pool_max_envs}",
        f"--OrbitExtension.default_engine={d.engine}",
        f"--OrbitExtension.announcements={d.announcements}",
        f"--OrbitExtension.hot_add_spares={d.hot_add_spares}",
        *((f"--OrbitExtension.pool_memory_mb={memory}",) if memory is not None else ()),
    )


def prepare(paths: Paths, profile: ProfilePaths, progress: Progress | None = None) -> ServerLaunch:
    """Everything a server start needs: the built environment and the profile's kernelspecs."""
    from jupyter_orbit.profiles.store import ProfileStore

    store = ProfileStore(paths)
    settings = store.settings(profile.name, create=True)
    env = ensure(paths, settings, progress)
    store.install_kernelspecs(profile, settings)
    return ServerLaunch(env, launch_args(settings))


def site_packages(env: Environment) -> list[Path]:
    from jupyter_orbit.pythons import site_packages as venv_site_packages

    return venv_site_packages(env.location)


def start_server(
    paths: Paths,
    profile: ProfilePaths,
    root: Path,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> tuple[ServerState, subprocess.Popen]:
    """Build the profile's server environment if needed, then start its server in ``root``
    (``options`` as ``lifecycle.start`` takes them)."""
    progress = progress or NullProgress()
    profile.ensure()
    progress.step("profile", f"{profile.name} ({profile.root})")
    server = prepare(paths, profile, progress)
    return lifecycle.start(paths, profile, root, server=server, progress=progress, **options)
