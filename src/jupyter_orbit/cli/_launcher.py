"""orbit launcher (and `orbit` alone): the kernel menu in its own browser window."""

from __future__ import annotations

from pathlib import Path

import click

from jupyter_orbit.cli._common import locations
from jupyter_orbit.cli._server import ensure_server, open_page, wait_foreground

PAGE = "orbit/launcher"


def launcher_command(
    path: Path | None, *, browser: str | None, no_browser: bool, profile: str
) -> None:
    paths, prof = locations(profile)
    target = path.expanduser().resolve() if path is not None else None
    state, proc = ensure_server(paths, prof, target, quiet=False)
    click.echo(f"Orbit's kernel menu (profile {profile}) at {state.url}{PAGE}")
    if no_browser:
        from jupyter_orbit.browser import redirect_page

        # The token stays out of the terminal: the page in the private runtime folder has it.
        page = redirect_page(prof, f"{state.url}{PAGE}?token={state.token}")
        click.echo(f"  open {page.as_uri()} in a browser")
    else:
        open_page(prof, state, PAGE, browser=browser)
    wait_foreground(prof, state, proc)
