"""Services beside a notebook's kernels (a database, a cache): the end of the launch stage.

When the pipeline launches a kernel (``prepare``, ``until="launch"``: ``orbit run`` and the
server's provisioner alike), every ecosystem that runs services (``Ecosystem.runs_beside``) is
asked which ones the notebook (``metadata.orbit.services``) or its project (a compose file)
declares. They are refused if they reach into the host, then started like packages are
installed — only with consent (a trusted project, ``--yes``, or the user's answer) — through
the container engine (``engines.services``), and waited for until ready. The kernel gets the
variables that reach them (``POSTGRES_HOST``, ``DATABASE_URL`` …): on 127.0.0.1 for kernels on
this host, by name on the project's network for kernels in containers, which join it. Its
command holds a lease on them, so they stop after the last such kernel ends (unless the
profile keeps them, ``defaults.services``).

With no container engine here, or with services off in the profile, kernels start without
them, and a warning says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jupyter_orbit.ecosystems.base import Services
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.model import Resolution
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import Progress

if TYPE_CHECKING:
    from jupyter_orbit.prepare import Choices, Prepared


def find(res: Resolution, paths: Paths) -> list[Services]:
    """The services a kernel for ``res``'s notebook (or folder) runs beside, per ecosystem."""
    from jupyter_orbit.plugins import ECOSYSTEMS

    beside = [cls for cls in ECOSYSTEMS.classes().values() if cls.runs_beside]
    if not beside:
        return []
    orbit: Any = None
    if res.notebook is not None and res.notebook.suffix == ".ipynb":
        from jupyter_orbit.manifests.notebook import load_notebook

        meta = load_notebook(res.notebook).get("metadata")
        orbit = meta.get("orbit") if isinstance(meta, dict) else None
    folder = res.notebook.parent if res.notebook is not None else res.target
    out = []
    for cls in beside:
        group = cls(paths).services(folder, res.project_root, res.notebook, orbit)
        if group is not None and group.services:
            out.append(group)
    return out


def policy(paths: Paths, choices: Choices) -> str:
    """What the profile says of services (``defaults.services``): the caller's, else the
    default profile's (the server runs with its own as the default)."""
    if choices.services:
        return choices.services
    from jupyter_orbit import settings

    path = paths.profile(paths.default_profile()).settings_file
    try:
        return settings.read(path).defaults.services if path.exists() else "stop"
    except (OrbitError, OSError):
        return "stop"


def attach(out: Prepared, choices: Choices, paths: Paths, progress: Progress) -> None:
    """Start the services ``out``'s kernel runs beside and point its command and variables
    at them (``out.argv``, ``out.kernel_env``, ``out.launch``, ``out.services``)."""
    from jupyter_orbit.engines.services import ServiceRunner, plan, project_key

    res = out.resolution
    groups = find(res, paths)
    if not groups or out.environment is None:
        return
    names = ", ".join(s.name for g in groups for s in g.services)
    mode = policy(paths, choices)
    if mode == "off":
        progress.warn(f"services are off in this profile (defaults.services): not starting {names}")
        return
    consent = choices.consent
    if not (consent.yes or consent.trusted_folders or consent.ask):
        return  # a caller that never consents (prewarming): kernels started later will
    for g in groups:  # refused before anything is asked or started
        plan(
            g,
            key=project_key(g.folder),
            home=paths.home,
            allow_host_access=choices.allow_host_access,
        )
    for g in groups:
        for note in g.notes:
            progress.step("services", note)
    wanted = [
        f"{g.ecosystem} service: {s.name} ({s.definition.get('image')}, from {g.source.name})"
        for g in groups
        for s in g.services
    ]
    consent.check(paths, res, wanted=wanted, doing="starting")
    runner = ServiceRunner(paths)
    try:
        runner.client  # noqa: B018  (connecting says what is wrong)
    except OrbitError as e:
        progress.warn(f"not starting the services beside the kernel ({names}): {e.message}")
        return
    from jupyter_orbit.ecosystems import get_ecosystem

    inside = out.engine.joins_service_network
    variables: dict[str, str] = {}
    runs = []
    for g in groups:
        eco = get_ecosystem(g.ecosystem, paths)
        running = runner.up(
            g, progress, allow_host_access=choices.allow_host_access, keep=mode == "keep"
        )
        runs.append(running)
        for s in running.services:
            host = s.service.name if inside else "127.0.0.1"
            ports = {p: p for p in s.ports} if inside else dict(s.published)
            given = eco.kernel_variables(s.service, host, ports)
            for key in sorted(set(given) & set(variables)):
                if given[key] != variables[key]:
                    progress.warn(f"{key} is set by two services: the kernel gets the first")
            variables = {**given, **variables}
            out.services.append({**s.public(), "host": host, "reached": ports, "key": running.key})
    out.launch = dataclasses.replace(
        out.launch, networks=tuple(r.network for r in runs), pass_env=tuple(sorted(variables))
    )
    out.argv = out.engine.kernel_command(out.environment, out.recipe, out.launch)
    for running in runs:
        out.argv = runner.lease_argv(running, out.argv)
    out.kernel_env.update(variables)


def forget(
    paths: Paths, groups: Iterable[Services], names: Iterable[str], *, volumes: bool
) -> list[str]:
    """After ``orbit remove``: remove those services' containers and, with ``volumes``, the
    named volumes only they used (``groups``: the services as they were before)."""
    from jupyter_orbit.engines.services import ServiceRunner, _volumes, engine_here, project_key

    if not engine_here():
        return []  # nothing of ours can be running
    names = set(names)
    runner = ServiceRunner(paths)
    done = []
    for g in groups:
        gone = [s for s in g.services if s.name in names]
        if not gone:
            continue
        key = project_key(g.folder)

        def mounted(services: Iterable[Any], g: Services = g, key: str = key) -> set[str]:
            out = set()
            for s in services:
                _, named, external = _volumes(s.definition, g, key=key, where=s.name)
                out |= set(named) - set(external)
            return out

        data = mounted(gone) - mounted(s for s in g.services if s.name not in names)
        done += runner.remove(key, [s.name for s in gone], volumes=sorted(data) if volumes else [])
    return done
