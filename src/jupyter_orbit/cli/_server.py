"""orbit up / down / status."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import click

from jupyter_orbit.cli._common import locations, progress
from jupyter_orbit.errors import InputError, ServerError
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.server import lifecycle
from jupyter_orbit.state import ServerState, running, successor


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
    if not detach:
        foreground_signals()
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
    try:  # from here, a Ctrl-C stops the server this command started
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
            open_page(prof, state, page, browser=browser, err=detach)
        elif not detach:
            show_links(prof, state, page)
    except KeyboardInterrupt:
        if proc is not None:  # a server this command started stops with it
            lifecycle.stop(prof, state)
        raise
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
    from jupyter_orbit import offline
    from jupyter_orbit.bundle.serve import serving
    from jupyter_orbit.profiles.server_env import start_server

    # installed bundles: the server environment is built from their stand-ins (the server
    # then starts its own, for its kernels)
    with (
        progress(quiet, "starting JupyterLab") as p,
        serving(paths, prof, p) as stand_ins,
        offline.using(stand_ins),
    ):
        return start_server(
            paths,
            prof,
            root,
            port=port,
            progress=p,
            engine=engine,
            allow_host_access=allow_host_access,
        )


def open_page(
    prof: ProfilePaths, state: ServerState, page: str, *, browser: str | None, err: bool = False
) -> None:
    """Open one of the server's pages in a browser window; when none opens, say why and how
    to open it by hand (on stderr with ``err``)."""
    from jupyter_orbit.browser import try_open

    why = try_open(prof, f"{state.url}{page}?token={state.token}", browser=browser)
    if why is not None:
        click.echo(f"  no browser window opened: {why}", err=True)
        show_links(prof, state, page, err=err)


def login_link(state: ServerState, page: str) -> tuple[str, int] | None:
    """A link to ``page`` that logs a browser in once (the token itself stays private), and
    for how many seconds it may wait to be opened."""
    try:
        answer = state.client().post_json("/orbit/api/login-link", {"next": page})
        return answer["url"], int(answer["expires_in"])
    except (ServerError, KeyError, TypeError, ValueError):
        return None  # a server of an Orbit without one-time links


def show_links(prof: ProfilePaths, state: ServerState, page: str, *, err: bool = False) -> None:
    """How to open ``page`` by hand: a one-time login link, and the private page Orbit keeps
    (a file only this user can read); neither shows the token."""
    from jupyter_orbit.browser import redirect_page

    if found := login_link(state, page):
        link, lifetime = found
        click.echo(
            f"  open this link in a browser (it logs in once, within {lifetime // 60} minutes):"
            f"\n    {link}",
            err=err,
        )
    local = redirect_page(prof, f"{state.url}{page}?token={state.token}").as_uri()
    click.echo(f"  {'or open' if found else 'open'} {local} (readable by you alone)", err=err)


def foreground_signals() -> None:
    """A foreground server stops with this command: on Ctrl-C even when this process was
    started with SIGINT ignored (a CI script, a `&` job of a script), on a `kill`, and when
    its terminal closes — unless that hangup is ignored on purpose (`nohup`)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    hup = getattr(signal, "SIGHUP", None)
    if hup is not None and signal.getsignal(hup) is not signal.SIG_IGN:
        signal.signal(hup, _interrupt)


def wait_foreground(prof: ProfilePaths, state: ServerState, proc: subprocess.Popen | None) -> None:
    """Keep a server this command started until Ctrl-C, a signal, or this command's output
    going away (a reused one keeps running). A server shut down on purpose (`orbit down`,
    JupyterLab's File > Shut Down, its idle timeout) ends this command without an error."""
    if proc is None:
        return
    foreground_signals()  # before saying so: a Ctrl-C at once must find the handler in place
    try:
        click.echo("  stop with Ctrl-C or `orbit down`")
        gone = _output_watch()
        while proc.poll() is None:
            if gone(0.5):
                return _stop_quietly(prof, state)
        # `orbit ext` / `orbit config --restart` may have restarted it onto a new setup
        while (after := successor(prof, state.pid)) is not None:
            state = after
            click.echo(f"  the server was restarted (pid {state.pid}); still here", err=True)
            while state.alive():
                if gone(0.5):
                    return _stop_quietly(prof, state)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            click.echo("stopping the server and its kernels…", err=True)
        lifecycle.stop(prof, state)
        return
    if proc.returncode == 0:
        click.echo("the server was shut down", err=True)
        return
    raise ServerError(f"the server stopped (exit code {proc.returncode})", f"see {state.log}")


def _output_watch() -> Callable[[float], bool]:
    """A wait of up to some seconds that answers True as soon as this command's stdout or
    stderr is gone: its terminal closed, or whatever read its output exited."""
    import select

    if not hasattr(select, "poll"):
        return lambda seconds: bool(time.sleep(seconds))
    poller = select.poll()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            poller.register(stream.fileno(), 0)  # only hangups and errors are reported

    def wait(seconds: float) -> bool:
        return bool(poller.poll(seconds * 1000))

    return wait


def _stop_quietly(prof: ProfilePaths, state: ServerState) -> None:
    """Stop the server when nobody is left to tell: output goes nowhere from now on."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            os.dup2(devnull, stream.fileno())
    lifecycle.stop(prof, state)


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
    from jupyter_orbit.cli import _services

    paths, prof = locations(profile)
    state = running(prof)
    services = _services.listing(paths)
    if state is None:
        if as_json:
            click.echo(json.dumps({"running": False, "profile": profile, "services": services}))
        else:
            click.echo(f"no server is running for profile {profile!r}")
            _services.show(services)
        return
    info = state.client().get_json("/orbit/api/status")
    if as_json:
        out = {"running": True, **state.public(), **info, "services": services}
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"profile {profile}: {state.url}lab  (pid {state.pid}, root {state.root_dir})")
    found = login_link(state, "lab")
    click.echo(
        "  open it: `orbit open [PATH]` (a browser window)"
        + (f", or this link, which logs in once:\n    {found[0]}" if found else "")
    )
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
    if usage := info.get("pool_usage"):
        click.echo(
            f"  warm kernels hold {usage['used_mb']:.0f} MiB of the pool's {usage['budget_mb']} MiB"
        )
    for env_id, spare in info.get("spares", {}).items():
        click.echo(f"  hot add: a clone of env {env_id} is {spare['state']}")
    _services.show(services)
