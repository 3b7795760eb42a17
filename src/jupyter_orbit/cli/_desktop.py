"""orbit install-desktop, and orbit open (what the desktop launcher runs)."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jupyter_orbit.cli._common import locations
from jupyter_orbit.cli._options import profile_option as _profile_option

if TYPE_CHECKING:
    from jupyter_orbit.state import ServerState


@click.command("install-desktop")
@click.option("--uninstall", is_flag=True, help="Remove what install-desktop added.")
@click.option("--dry-run", is_flag=True, help="Print what would be written and run.")
@click.option(
    "--platform",
    type=click.Choice(["linux", "windows", "macos"]),
    help="Plan for another platform (with --dry-run).",
)
@click.option(
    "--profile",
    "profile",
    default=None,
    help="A launcher for this profile only (default: one for the default profile that also "
    "opens .ipynb files).",
)
def install_desktop_command(
    uninstall: bool, dry_run: bool, platform: str | None, profile: str | None
) -> None:
    """Add Orbit to the desktop: a launcher, its icon and opening .ipynb files with it."""
    from jupyter_orbit import desktop
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.paths import check_profile_name

    here = desktop.current_platform()
    target = platform or here
    if target != here and not dry_run:
        raise InputError(
            f"cannot install for {target} on {here}", "add --dry-run to see what it would do"
        )
    if profile:
        check_profile_name(profile)
    what = desktop.launcher(profile)
    actions = desktop.plan(target, what, dict(os.environ), Path.home(), uninstall=uninstall)
    if dry_run:
        for action in actions:
            click.echo(action.describe())
            if isinstance(action, desktop.WriteFile) and action.path.suffix in (".desktop", ".xml"):
                click.echo("    " + action.data.decode().replace("\n", "\n    ").rstrip())
        return
    for note in desktop.apply(actions):
        click.echo(f"note: {note}", err=True)
    if uninstall:
        click.echo(f"removed {what.name} from the desktop")
    else:
        claim = " and opens .ipynb files" if what.claims_notebooks else ""
        click.echo(f"added {what.name} to the desktop's applications{claim}")


@click.command("open")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_profile_option
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening it.")
def open_command(path: Path | None, profile: str, no_browser: bool) -> None:
    """Open a notebook or folder in the profile's running server (starting one if none runs).

    This is what the desktop launcher runs when a notebook is double-clicked.
    """
    from jupyter_orbit.errors import OrbitError

    name = profile
    try:
        state, page = _open(path, name)
    except OrbitError as err:
        if not no_browser:
            _show_error(name, err)  # launched from a file manager, nobody sees stderr
        raise
    from jupyter_orbit.cli._server import open_page, show_links

    _, prof = locations(name)
    if no_browser:
        show_links(prof, state, page)
        return
    open_page(prof, state, page, browser=None)
    click.echo(f"opened in profile {name}'s server (root {state.root_dir})")


def _open(path: Path | None, name: str) -> tuple[ServerState, str]:
    from urllib.parse import quote

    from filelock import FileLock

    from jupyter_orbit.errors import InputError, ServerError
    from jupyter_orbit.profiles.server_env import start_server
    from jupyter_orbit.state import running

    paths, prof = locations(name)
    target = path.expanduser().resolve() if path else None
    if target is not None and not target.exists():
        raise InputError(f"{path}: no such file or folder", "give a notebook or folder to open")
    prof.root.mkdir(parents=True, exist_ok=True)
    # Two notebooks double-clicked at once must not start two servers.
    with FileLock(prof.root / ".open.lock"):
        state = running(prof)
        if state is None:
            root = _root_for(target)
            state, _ = start_server(paths, prof, root)
    root = Path(state.root_dir)
    if target is not None and not target.is_relative_to(root):
        raise ServerError(
            f"{target} is outside the folder profile {name}'s server serves ({root})",
            f"stop that server with `orbit down --profile {name}` and open it again",
        )
    rel = target.relative_to(root).as_posix() if target is not None else "."
    return state, "lab" if rel == "." else "lab/tree/" + quote(rel)


def _root_for(target: Path | None) -> Path:
    """Where a server started from the desktop is rooted: the home folder when the notebook is
    in it (so later notebooks open in the same server), else the notebook's project.

    Nothing is trusted by opening: a notebook that declares packages asks first."""
    from jupyter_orbit.resolve import find_project_root

    home = Path.home().resolve()
    if target is None or target.is_relative_to(home):
        return home
    folder = target if target.is_dir() else target.parent
    return find_project_root(folder) or folder


def _show_error(name: str, err: Exception) -> None:
    import webbrowser

    from jupyter_orbit import atomic

    try:
        _, prof = locations(name)
        prof.runtime_dir.mkdir(parents=True, exist_ok=True)
        hint = getattr(err, "hint", None)
        page = prof.runtime_dir / "orbit-error.html"
        atomic.write_text(
            page,
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Orbit</title></head>"
            "<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>"
            f"<h2>Orbit could not open this</h2><p>{html.escape(str(err))}</p>"
            + (f"<p><b>Fix:</b> {html.escape(hint)}</p>" if hint else "")
            + "</body></html>\n",
            mode=0o600,
        )
        webbrowser.open(page.as_uri())
    except Exception:  # showing the error must never hide it
        pass
