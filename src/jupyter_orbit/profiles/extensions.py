"""Adding and removing a profile's JupyterLab extensions without breaking a working setup.

A change never edits an environment: it builds the server environment for the new settings
(a new content-addressed id, or one already built), checks that every added package really is
a JupyterLab extension, starts a throwaway server from it and asks that server whether every
server extension loaded and JupyterLab sees every lab extension — and only then saves the
profile's settings and restarts its running server onto the new environment. Any failure on the
way leaves the settings, and so the previous environment, as they were; a restart that fails is
undone by starting the server from the previous environment again.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from jupyter_orbit import settings as st
from jupyter_orbit.errors import BuildError, InputError, ServerError
from jupyter_orbit.model import Environment
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.profiles import server_env
from jupyter_orbit.profiles.restart import restart as restart_server
from jupyter_orbit.profiles.store import ProfileStore
from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.server import discover

if TYPE_CHECKING:
    from jupyter_orbit.state import ServerState


@dataclass
class Change:
    profile: str
    added: list[discover.Provided] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    env_before: str | None = None
    env_after: str | None = None
    restarted: bool = False
    server_running: bool = False

    @property
    def unchanged(self) -> bool:
        return not self.added and not self.removed


def requirement_for(arg: str) -> str:
    """What the user typed -> a requirement line: a PyPI requirement, or a local wheel file."""
    path = Path(arg).expanduser()
    if arg.endswith(".whl") or path.is_file():
        if not path.is_file():
            raise InputError(f"{arg}: no such file", "give the path of a wheel (.whl) to install")
        try:
            name = parse_wheel_filename(path.name)[0]
        except InvalidWheelFilename:
            raise InputError(
                f"{arg}: not a wheel file name", "extensions install from wheels (.whl) or PyPI"
            ) from None
        return f"{name} @ {path.resolve().as_uri()}"
    try:
        req = Requirement(arg)
    except InvalidRequirement as e:
        raise InputError(
            f"{arg!r} is not a package name or requirement ({e})",
            "e.g. `orbit ext add jupyterlab-execute-time` (find some with `orbit ext search`)",
        ) from None
    return str(req)


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def change(
    paths: Paths,
    profile: str,
    *,
    add: list[str] | tuple[str, ...] = (),
    remove: list[str] | tuple[str, ...] = (),
    progress: Progress | None = None,
    restart: bool = True,
) -> Change:
    progress = progress or NullProgress()
    store = ProfileStore(paths)
    old = store.settings(profile, create=True)
    prof = store.profile(profile)
    result = Change(profile)
    current = dict(old.server.extension_names())

    for arg in remove:
        try:
            key = _name(arg)
        except InvalidRequirement:
            key = arg
        if key not in current:
            raise InputError(
                f"{arg} is not one of profile {profile!r}'s extensions",
                "its extensions: " + (", ".join(sorted(current)) or "none"),
            )
        del current[key]
        result.removed.append(key)

    requested = {}
    for arg in add:
        text = requirement_for(arg)
        requested[_name(text)] = text
    st.check_extensions(list({**current, **requested}.values()), "the command line")
    if requested:
        wanted = old.with_extensions(list({**current, **requested}.values()))
        current.update(_pin(paths, wanted, requested, progress))
    new = old.with_extensions(list(current.values()))
    if new == old:
        return result

    before = server_env.lookup(paths, old)
    result.env_before = before.env_id if before else None
    names = ", ".join([*requested, *result.removed])
    try:
        env = server_env.ensure(paths, new, progress)
    except BuildError as e:
        raise BuildError(
            f"could not install {names}: {e.message}",
            f"{e.hint}. Nothing changed: profile {profile!r} keeps its server environment",
        ) from None
    result.env_after = env.env_id

    provided = discover.extensions(server_env.site_packages(env))
    installed = discover.distributions(server_env.site_packages(env))
    for key in requested:
        if key not in provided:
            what = "is installed but" if key in installed else "did not install a package named it:"
            raise InputError(
                f"{key} {what} provides no JupyterLab extension (no prebuilt lab extension and "
                "no server extension)",
                "nothing changed; find prebuilt extensions with `orbit ext search`",
            )
        result.added.append(provided[key])

    trial(paths, prof, new, env, sorted(requested), progress)
    store.save(profile, new)

    state = lifecycle_running(prof)
    result.server_running = state is not None
    if state is not None and restart:

        def undo() -> server_env.ServerLaunch:
            store.save(profile, old)
            return server_env.ServerLaunch(
                server_env.ensure(paths, old, progress), server_env.launch_args(old)
            )

        launch = server_env.ServerLaunch(env, server_env.launch_args(new))
        restart_server(paths, prof, state, launch, progress, undo=undo, what=names)
        result.restarted = True
    return result


def _pin(
    paths: Paths, settings: st.Settings, requested: dict[str, str], progress: Progress
) -> dict[str, str]:
    """Exact versions for the requested extensions, resolved as the build would resolve them."""
    todo = {k: v for k, v in requested.items() if not Requirement(v).url}
    if not todo:
        return requested
    progress.step("resolve", ", ".join(todo))
    engine = server_env.ServerEngine(paths)
    spec = server_env.server_spec(settings)
    try:
        lines = engine.pins(engine.plan(spec))
    except BuildError as e:
        raise BuildError(
            f"could not install {', '.join(todo)}: {e.message}",
            f"{e.hint}. Nothing changed",
        ) from None
    versions = {}
    for line in lines:
        name, sep, version = line.partition("==")
        if sep:
            versions[canonicalize_name(name.split("[")[0].strip())] = version.split(";")[0].strip()
    out = dict(requested)
    for key, text in todo.items():
        req = Requirement(text)
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        if key in versions:
            out[key] = f"{req.name}{extras}=={versions[key]}"
    return out


def trial(
    paths: Paths,
    prof: ProfilePaths,
    settings: st.Settings,
    env: Environment,
    expected: list[str],
    progress: Progress,
) -> None:
    """Start a throwaway server from ``env``; raise if any extension does not work there."""
    from jupyter_orbit.server import lifecycle

    progress.step("check", "starting JupyterLab from the new server environment")
    prof.ensure()
    root = Path(tempfile.mkdtemp(prefix="trial-", dir=prof.runtime_dir))
    launch = server_env.ServerLaunch(
        env, ("--OrbitExtension.pool_per_env=0", "--OrbitExtension.pool_max_envs=0")
    )
    log = prof.logs_dir / "server-trial.log"
    try:
        try:
            state, _ = lifecycle.start(paths, prof, root, server=launch, trial=True)
        except ServerError as e:
            raise _broken(expected, f"the server does not start ({e.message})", log) from None
        try:
            report = state.client(timeout=60).get_json("/orbit/api/extensions")
        except ServerError as e:
            raise _broken(
                expected, f"Orbit's server extension does not answer ({e})", log
            ) from None
        finally:
            lifecycle.stop(prof, state, forget=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    problems = problems_in(report, expected)
    if problems:
        raise _broken(expected, "; ".join(problems), log)


def problems_in(report: dict, expected: list[str]) -> list[str]:
    """What does not work in a server's ``/orbit/api/extensions`` report."""
    problems = []
    for module, status in sorted(report.get("server_extensions", {}).items()):
        if status.get("enabled") and not status.get("loaded"):
            err = status.get("error") or {}
            problems.append(
                f"server extension {module} failed to {err.get('stage', 'load')}: "
                f"{err.get('error', 'unknown error')}"
            )
    by_name = {e["package"]: e for e in report.get("extensions", [])}
    for key in expected:
        item = by_name.get(key)
        if item is None:
            problems.append(f"{key} is not installed in the server environment")
            continue
        for lab in item.get("labextensions", []):
            if not lab.get("seen_by_lab"):
                problems.append(f"JupyterLab does not see the lab extension {lab['name']}")
    return problems


def _broken(expected: list[str], why: str, log: Path) -> ServerError:
    what = ", ".join(expected) if expected else "the change"
    return ServerError(
        f"{what} breaks the server: {why}",
        f"rolled back: the profile keeps its previous server environment (trial log: {log})",
    )


def lifecycle_running(prof: ProfilePaths) -> ServerState | None:
    from jupyter_orbit.state import running

    return running(prof)


# -- listing ----------------------------------------------------------------------------------


@dataclass
class Listed:
    package: str
    requirement: str | None
    version: str | None
    labextensions: tuple[str, ...]
    server_extensions: tuple[str, ...]
    summary: str
    status: str  # ok | not built | failed: … | not installed
    chosen: bool


def listing(
    paths: Paths, profile: str, *, include_builtin: bool = False
) -> tuple[str | None, list[Listed]]:
    """The profile's extensions, installed versions and (with a running server) live status."""
    store = ProfileStore(paths)
    settings = store.settings(profile)
    prof = store.profile(profile)
    env = server_env.lookup(paths, settings)
    provided = discover.extensions(server_env.site_packages(env)) if env else {}
    live: dict = {}
    if (state := lifecycle_running(prof)) is not None:
        try:
            live = state.client(timeout=10).get_json("/orbit/api/extensions")
        except ServerError:
            live = {}
    live_problems = {
        e["package"]: problems_in(
            {
                "server_extensions": {s["module"]: s for s in e["server_extensions"]},
                "extensions": [e],
            },
            [e["package"]],
        )
        for e in live.get("extensions", [])
    }
    chosen = settings.server.extension_names()
    rows = []
    for key in sorted(set(chosen) | (set(provided) if include_builtin else set())):
        p = provided.get(key)
        if env is None:
            status = "not built"
        elif p is None:
            status = "not installed"
        elif live_problems.get(key):
            status = "failed: " + "; ".join(live_problems[key])
        else:
            status = "ok"
        rows.append(
            Listed(
                key,
                chosen.get(key),
                p.version if p else None,
                p.labextensions if p else (),
                p.server_extensions if p else (),
                p.summary if p else "",
                status,
                key in chosen,
            )
        )
    return (env.env_id if env else None), rows
