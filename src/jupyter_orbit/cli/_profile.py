"""orbit profile list|show|create|clone|remove|use|export|import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jupyter_orbit.cli._common import progress
from jupyter_orbit.cli._options import quiet_option


def _store():
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.profiles.store import ProfileStore

    return ProfileStore(Paths.from_env())


def _current(name: str | None) -> str:
    from jupyter_orbit.profiles.store import default_profile_name

    store = _store()
    return name or default_profile_name(store.paths)


@click.group("profile")
def profile_group() -> None:
    """Profiles: separate Jupyter setups (server, extensions, settings, kernels, browser data)."""


@profile_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """The profiles, which is the default, and which have a server running."""
    from jupyter_orbit.errors import OrbitError
    from jupyter_orbit.state import running

    store = _store()
    default = _current(None)
    rows = []
    for name in sorted(set(store.names()) | {default}):
        exists = store.exists(name)
        running = running(store.paths.profile(name), check_http=False) if exists else None
        try:
            settings = store.settings(name) if exists else None
            n_ext = len(settings.server.extensions) if settings else 0
            problem = None
        except OrbitError as e:
            n_ext, problem = 0, str(e)
        rows.append(
            {
                "name": name,
                "default": name == default,
                "exists": exists,
                "running": running.url if running else None,
                "extensions": n_ext,
                "problem": problem,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        mark = "*" if r["default"] else " "
        state = f"running at {r['running']}" if r["running"] else "stopped"
        if not r["exists"]:
            state = "not created yet"
        ext = f"{r['extensions']} extension{'s' * (r['extensions'] != 1)}"
        click.echo(f"{mark} {r['name']:<20} {ext:<14} {state}")
        if r["problem"]:
            click.echo(f"    problem: {r['problem']}")


@profile_group.command("show")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(name: str | None, as_json: bool) -> None:
    """Everything about one profile (default: the current one)."""
    from jupyter_orbit.profiles import config, server_env
    from jupyter_orbit.profiles.store import exported_files
    from jupyter_orbit.state import running

    store = _store()
    name = _current(name)
    prof = store.profile(name)
    settings = store.settings(name)
    env = server_env.lookup(store.paths, settings)
    state = running(prof)
    files = exported_files(prof)
    info = {
        "name": name,
        "default": name == _current(None),
        "root": str(prof.root),
        "description": settings.description,
        "settings_file": str(prof.settings_file),
        "server": {
            "python": settings.server.python,
            "jupyterlab": settings.server.jupyterlab,
            "extensions": list(settings.server.extensions),
            "env_id": server_env.server_spec(settings).env_id,
            "built": env is not None,
            "location": str(env.location) if env else None,
        },
        "defaults": {
            "engine": settings.defaults.engine,
            "kernels": list(settings.defaults.kernels) if settings.defaults.kernels else "all",
            "pool_per_env": settings.defaults.pool_per_env,
            "pool_max_envs": settings.defaults.pool_max_envs,
        },
        "config": config.stored(store.paths, name),
        "kernelspecs": sorted(p.name for p in prof.kernels_dir.glob("*") if p.is_dir()),
        "lab_settings": sum(1 for f in files if f.endswith(".jupyterlab-settings")),
        "workspaces": sum(1 for f in files if f.endswith(".jupyterlab-workspace")),
        "browser_dir": str(prof.browser_dir),
        "running": state.public() if state else None,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    s = info["server"]
    click.echo(f"profile {name}{'  (default)' if info['default'] else ''}   {prof.root}")
    if settings.description:
        click.echo(f"  {settings.description}")
    built = "built" if s["built"] else "not built yet"
    click.echo(f"  server      JupyterLab {s['jupyterlab']} on Python {s['python']}")
    click.echo(f"              environment {s['env_id']} ({built})")
    for ext in s["extensions"] or ["(no extensions)"]:
        click.echo(f"  extension   {ext}")
    d = info["defaults"]
    kernels = d["kernels"] if isinstance(d["kernels"], str) else ", ".join(d["kernels"])
    click.echo(
        f"  defaults    engine {d['engine']}; kernels {kernels}; warm pool "
        f"{d['pool_per_env']} per environment, {d['pool_max_envs']} environments"
    )
    changed = {k: v for k, v in info["config"].items() if not k.startswith("OrbitExtension.pool")}
    for key, value in changed.items():
        click.echo(f"  config      {key} = {json.dumps(value)}")
    click.echo(f"  kernelspecs {', '.join(info['kernelspecs']) or 'none yet'}")
    click.echo(
        f"  JupyterLab  {info['lab_settings']} settings file(s), {info['workspaces']} workspace(s)"
    )
    state_line = f"running at {state.url} (pid {state.pid})" if state else "stopped"
    click.echo(f"  status      {state_line}")


@profile_group.command("create")
@click.argument("name")
@click.option("--python", metavar="VERSION", help="Python of the server environment.")
@click.option("--jupyterlab", metavar="VERSION", help="Exact JupyterLab version to pin.")
@click.option(
    "--kernel", "kernels", multiple=True, metavar="NAME", help="Offer only these kernels (repeat)."
)
@click.option("--engine", help="Default engine for notebooks' environments.")
@click.option("--description", default="", help="A line saying what the profile is for.")
@click.option("--no-build", is_flag=True, help="Build the server environment later (at `up`).")
@click.option("--use", "make_default", is_flag=True, help="Make it the default profile.")
@quiet_option
def create_command(
    name: str,
    python: str | None,
    jupyterlab: str | None,
    kernels: tuple[str, ...],
    engine: str | None,
    description: str,
    no_build: bool,
    make_default: bool,
    quiet: bool,
) -> None:
    """Create profile NAME and build its server environment."""
    from dataclasses import replace

    from jupyter_orbit import settings as st
    from jupyter_orbit.paths import check_profile_name
    from jupyter_orbit.profiles import server_env

    check_profile_name(name)
    store = _store()
    store.refuse_existing(name)
    settings = st.default_settings(python=python, jupyterlab=jupyterlab)
    # the same checks a hand-edited profile.toml gets
    defaults = replace(
        settings.defaults,
        engine=st.check_engine(engine, "--engine") if engine else settings.defaults.engine,
        kernels=tuple(st.check_kernels(list(kernels), "--kernel")) if kernels else None,
    )
    settings = st.from_dict(
        replace(settings, defaults=defaults, description=description).to_toml(), "the options"
    )
    if not no_build:
        with progress(quiet, f"building profile {name}'s server") as p:
            env = server_env.ensure(store.paths, settings, p)
        click.echo(f"server environment {env.env_id} ready", err=True)
    prof = store.create(name, settings)
    store.install_kernelspecs(prof, settings)
    if make_default:
        store.use(name)
    click.echo(f"created profile {name} ({prof.root})" + ("; it is the default" * make_default))


@profile_group.command("clone")
@click.argument("source")
@click.argument("target")
@click.option("--use", "make_default", is_flag=True, help="Make the copy the default profile.")
def clone_command(source: str, target: str, make_default: bool) -> None:
    """Copy SOURCE's settings, extensions, config, JupyterLab settings and workspaces to TARGET.

    Its browser data, logs and running state are not copied.
    """
    store = _store()
    prof = store.clone(source, target)
    if make_default:
        store.use(target)
    click.echo(f"cloned {source} to {target} ({prof.root})")


@profile_group.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
def remove_command(name: str, yes: bool) -> None:
    """Remove profile NAME and everything in it (its server environment stays shared)."""
    from jupyter_orbit.errors import InputError

    store = _store()
    prof = store.profile(name)
    if not yes:
        if not sys.stdin.isatty():
            raise InputError(
                f"removing profile {name!r} needs confirmation", "pass --yes to remove it"
            )
        if not click.confirm(
            f"remove profile {name} ({prof.root}) with its settings, workspaces and browser data?",
            default=False,
            err=True,
        ):
            click.echo("kept", err=True)
            return
    store.remove(name)
    click.echo(f"removed profile {name}")


@profile_group.command("use")
@click.argument("name")
def use_command(name: str) -> None:
    """Make NAME the default profile (ORBIT_PROFILE and --profile still choose another)."""
    _store().use(name)
    click.echo(f"the default profile is now {name}")


@profile_group.command("export")
@click.argument("name", required=False)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="File to write ('-': stdout)."
)
@click.option("--no-workspaces", is_flag=True, help="Leave JupyterLab's workspaces out.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def export_command(name: str | None, output: Path | None, no_workspaces: bool, force: bool) -> None:
    """Write profile NAME to one file that rebuilds it elsewhere (no tokens, secrets or cookies)."""
    from jupyter_orbit.profiles import archive

    store = _store()
    name = _current(name)
    exported = archive.export(store.paths, name, workspaces=not no_workspaces)
    for item in exported.left_out:
        click.echo(f"left out: {item}", err=True)
    if output is not None and str(output) == "-":
        click.echo(exported.text, nl=False)
        return
    out = output or Path(f"{name}{archive.SUFFIX}")
    archive.write_export(exported, out, force=force)
    click.echo(f"exported profile {name} to {out}")


@profile_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", help="Name for the profile (default: the name in the file).")
@click.option("--no-build", is_flag=True, help="Build the server environment later (at `up`).")
@click.option("--use", "make_default", is_flag=True, help="Make it the default profile.")
@quiet_option
def import_command(
    file: Path, name: str | None, no_build: bool, make_default: bool, quiet: bool
) -> None:
    """Rebuild a profile from a file written by `orbit profile export`."""
    from jupyter_orbit.profiles import archive

    store = _store()
    incoming = archive.read_import(file)
    with progress(quiet, "importing the profile") as p:
        prof = archive.import_profile(
            store.paths, incoming, name=name, build=not no_build, progress=p
        )
    if make_default:
        store.use(prof.name)
    n = len(incoming.settings.server.extensions)
    click.echo(
        f"imported profile {prof.name} ({prof.root}): JupyterLab "
        f"{incoming.settings.server.jupyterlab}, {n} extension{'s' * (n != 1)}"
    )
