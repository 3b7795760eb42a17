"""orbit launcher (and `orbit` alone): the kernel menu in its own browser window."""

from __future__ import annotations

from pathlib import Path

import click

from jupyter_orbit.cli._common import locations
from jupyter_orbit.cli._server import (
    ensure_server,
    foreground_signals,
    open_page,
    show_links,
    wait_foreground,
)
from jupyter_orbit.server import lifecycle

PAGE = "orbit/launcher"


def launcher_command(
    path: Path | None, *, browser: str | None, no_browser: bool, profile: str
) -> None:
    paths, prof = locations(profile)
    target = path.expanduser().resolve() if path is not None else None
    foreground_signals()  # a server this command starts stops with it
    state, proc = ensure_server(paths, prof, target, quiet=False)
    try:
        click.echo(f"Orbit's kernel menu (profile {profile}) at {state.url}{PAGE}")
        if no_browser:
            show_links(prof, state, PAGE)  # the token stays out of the terminal
        else:
            open_page(prof, state, PAGE, browser=browser)
    except KeyboardInterrupt:
        if proc is not None:
            lifecycle.stop(prof, state)
        raise
    wait_foreground(prof, state, proc)
