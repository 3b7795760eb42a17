"""orbit up / down / status."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import click

from jupyter_orbit.cli._common import locations, progress
from jupyter_orbit.errors import InputError, ServerError
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.server import lifecycle
from jupyter_orbit.state import ServerState, pid_alive, running, successor


def up_command(
    path: Path,
    *,
    no_browser: bool,
    port: int | None,
    detach: bool,
    profile: str,
    quiet: bool,
    engine: str | None = None,
    allow_host_access: bool = False,
    browser: str | None = None,
) -> None:
    from jupyter_orbit.engines import get_engine

    paths, prof = locations(profile)
    if engine is not None:
        chosen = get_engine(engine, paths)  # an unknown name is bad input, before anything starts
        chosen.check_available()
    target = path.expanduser().resolve()
    state, proc = ensure_server(
        paths,
        prof,
        target,
        port=port,
        quiet=quiet,
        engine=engine,
        allow_host_access=allow_host_access,
    )
    rel = target.relative_to(state.root_dir)
    page = "lab/tree/" + quote(rel.as_posix()) if str(rel) != "." else "lab"
    if detach:
        click.echo(
            json.dumps(
                {
                    "url": state.url,
                    "token": state.token,
                    "root_dir": state.root_dir,
                    "pid": state.pid,
                }
            )
        )
    else:
        click.echo(f"JupyterLab (profile {profile}) at {state.url}{page}")
        click.echo(f"  root: {state.root_dir}\n  log:  {state.log}")
    if not no_browser:
        open_page(prof, state, page, browser=browser)
    if not detach:
        wait_foreground(prof, state, proc)


def ensure_server(
    paths: Paths,
    prof: ProfilePaths,
    target: Path | None,
    *,
    port: int | None = None,
    quiet: bool = False,
    engine: str | None = None,
    allow_host_access: bool = False,
) -> tuple[ServerState, subprocess.Popen | None]:
    """The profile's running server, or a new one rooted at ``target`` (None: reuse any, or
    start one here). Handing a folder to Orbit trusts it. ``proc`` is None when reused; a
    reused server must already have the ``engine`` and host access asked for."""
    from jupyter_orbit.resolve import find_project_root
    from jupyter_orbit.trust import TrustStore

    state = running(prof)
    if target is None:
        if state is not None:
            return state, None
        target = Path.cwd().resolve()
    if not target.exists():
        raise InputError(f"{target}: no such file or folder", "give the project folder to open")
    root = (find_project_root(target.parent) or target.parent) if target.is_file() else target
    TrustStore(paths.trust_file).trust(root)

    if state is not None:
        if not target.is_relative_to(state.root_dir):
            raise ServerError(
                f"profile {prof.name!r} already has a server running in {state.root_dir}",
                "open a path inside it, stop it with `orbit down`, or use another --profile",
            )
        if port and port != state.port:
            raise ServerError(
                f"profile {prof.name!r} already has a server on port {state.port}",
                "leave --port out to reuse it, or stop it with `orbit down`",
            )
        if engine is not None or allow_host_access:
            _check_same_settings(state, prof.name, engine, allow_host_access)
        return state, None
    from jupyter_orbit.profiles.server_env import start_server

    with progress(quiet, "starting JupyterLab") as p:
        return start_server(
            paths,
            prof,
            root,
            port=port,
            progress=p,
            engine=engine,
            allow_host_access=allow_host_access,
        )


def open_page(prof: ProfilePaths, state: ServerState, page: str, *, browser: str | None) -> None:
    """Open one of the server's pages in a browser window; say where it is if none opens."""
    from jupyter_orbit.browser import open_url, redirect_page

    if not open_url(prof, f"{state.url}{page}?token={state.token}", browser=browser):
        local = redirect_page(prof, f"{state.url}{page}?token={state.token}")
        click.echo(f"  open {local.as_uri()} in a browser", err=True)


def wait_foreground(prof: ProfilePaths, state: ServerState, proc: subprocess.Popen | None) -> None:
    """Keep a server this command started until Ctrl-C (a reused one keeps running)."""
    if proc is None:
        return
    click.echo("  stop with Ctrl-C or `orbit down`")
    # A closed terminal or a `kill` stops the server too, as Ctrl-C does.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        while proc.poll() is None:
            time.sleep(0.5)
        # `orbit ext` / `orbit config --restart` may have restarted it onto a new setup
        while (after := successor(prof, state.pid)) is not None:
            state = after
            click.echo(f"  the server was restarted (pid {state.pid}); still here", err=True)
            while pid_alive(state.pid):
                time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping the server and its kernels…", err=True)
        lifecycle.stop(prof, state)
        return
    raise ServerError(f"the server stopped (exit code {proc.returncode})", f"see {state.log}")


def _check_same_settings(
    state: ServerState, profile: str, engine: str | None, allow_host_access: bool
) -> None:
    """A running server keeps the engine and permissions it was started with."""
    info = state.client().get_json("/orbit/api/status")
    running = info.get("engine", "local")
    if engine is not None and engine != running:
        raise ServerError(
            f"profile {profile!r} already has a server running with the {running} engine",
            "stop it with `orbit down` to switch engines, or use another --profile",
        )
    if allow_host_access and not info.get("allow_host_access"):
        raise ServerError(
            f"profile {profile!r} already has a server running without --allow-host-access",
            "stop it with `orbit down`, then start it again with the flag",
        )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def down_command(*, profile: str) -> None:
    _, prof = locations(profile)
    state = running(prof, check_http=False)
    if state is None:
        click.echo(f"no server is running for profile {profile!r}")
        return
    lifecycle.stop(prof, state)
    click.echo(f"stopped the server of profile {profile!r} (pid {state.pid})")


def status_command(*, as_json: bool, profile: str) -> None:
    _, prof = locations(profile)
    state = running(prof)
    if state is None:
        if as_json:
            click.echo(json.dumps({"running": False, "profile": profile}))
        else:
            click.echo(f"no server is running for profile {profile!r}")
        return
    info = state.client().get_json("/orbit/api/status")
    if as_json:
        click.echo(json.dumps({"running": True, **state.public(), **info}, indent=2))
        return
    click.echo(f"profile {profile}: {state.url}lab  (pid {state.pid}, root {state.root_dir})")
    if not info["kernels"]:
        click.echo("  no kernels running")
    for k in info["kernels"]:
        where = k.get("notebook", "?")
        env = k.get("env_id") or ("fallback: " + k["error"]["error"] if k.get("error") else "?")
        click.echo(
            f"  {k['id'][:8]}  {k.get('execution_state', '?'):<9} {where}\n            env {env}"
        )
    for p in info.get("pool", []):
        click.echo(f"  warm: env {p['env_id']}  ready {p['ready']}  starting {p['starting']}")
