"""orbit ext search|add|remove|list."""

from __future__ import annotations

import json

import click

from jupyter_orbit.cli._common import locations, progress
from jupyter_orbit.cli._options import profile_option as _profile_option
from jupyter_orbit.cli._options import quiet_option


@click.group("ext")
def ext_group() -> None:
    """The profile's JupyterLab extensions (prebuilt, from PyPI)."""


@ext_group.command("search")
@click.argument("query", nargs=-1)
@click.option("--offline", is_flag=True, help="Search Orbit's own list only; do not ask PyPI.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def search_command(query: tuple[str, ...], offline: bool, as_json: bool) -> None:
    """Find prebuilt JupyterLab extensions (Orbit's list of well-used ones, or a PyPI name)."""
    from jupyter_orbit.profiles import catalog

    text = " ".join(query)
    hits, why = catalog.search(text, None if offline else catalog.pypi_fetch())
    if as_json:
        click.echo(json.dumps({"hits": [h.to_dict() for h in hits], "pypi": why or "ok"}))
        return
    if why and not offline:
        click.echo(f"could not ask PyPI ({why}); showing Orbit's list only", err=True)
    if not hits:
        click.echo(f"no extension matches {text!r}", err=True)
        return
    for h in hits:
        version = h.version or ""
        note = ""
        if h.prebuilt is False:
            note = "  [not marked as a prebuilt JupyterLab extension]"
        click.echo(f"{h.name:<36} {version:<10} {h.summary}{note}")
    click.echo("add one with `orbit ext add NAME`", err=True)


def _report(change: object) -> None:
    from jupyter_orbit.profiles.extensions import Change

    assert isinstance(change, Change)
    if change.unchanged:
        click.echo(f"profile {change.profile}: nothing to change")
        return
    for p in change.added:
        parts = []
        if p.labextensions:
            parts.append("lab: " + ", ".join(p.labextensions))
        if p.server_extensions:
            parts.append("server: " + ", ".join(p.server_extensions))
        click.echo(f"added {p.package} {p.version} ({'; '.join(parts)})")
    for name in change.removed:
        click.echo(f"removed {name}")
    click.echo(f"profile {change.profile}: server environment {change.env_after}")
    if change.restarted:
        click.echo("the running server was restarted onto it (reload JupyterLab's page)")
    elif change.server_running:
        click.echo("the running server still uses the previous one until it restarts")


@ext_group.command("add")
@click.argument("packages", nargs=-1, required=True)
@click.option("--no-restart", is_flag=True, help="Leave a running server as it is.")
@_profile_option
@quiet_option
def add_command(packages: tuple[str, ...], no_restart: bool, profile: str, quiet: bool) -> None:
    """Add extensions (PyPI names, requirements, or wheel files); a broken one is rolled back."""
    from jupyter_orbit.profiles.extensions import change

    paths, _ = locations(profile)
    with progress(quiet, "adding extensions") as p:
        result = change(paths, profile, add=packages, progress=p, restart=not no_restart)
    _report(result)


@ext_group.command("remove")
@click.argument("packages", nargs=-1, required=True)
@click.option("--no-restart", is_flag=True, help="Leave a running server as it is.")
@_profile_option
@quiet_option
def remove_command(packages: tuple[str, ...], no_restart: bool, profile: str, quiet: bool) -> None:
    """Remove extensions from the profile."""
    from jupyter_orbit.profiles.extensions import change

    paths, _ = locations(profile)
    with progress(quiet, "removing extensions") as p:
        result = change(paths, profile, remove=packages, progress=p, restart=not no_restart)
    _report(result)


@ext_group.command("list")
@click.option("--all", "include_builtin", is_flag=True, help="Also those JupyterLab brings.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def list_command(include_builtin: bool, as_json: bool, profile: str) -> None:
    """The profile's extensions: version, what each provides, and whether it works."""
    from dataclasses import asdict

    from jupyter_orbit.profiles.extensions import listing

    paths, _ = locations(profile)
    env_id, rows = listing(paths, profile, include_builtin=include_builtin)
    if as_json:
        click.echo(
            json.dumps(
                {"profile": profile, "env_id": env_id, "extensions": [asdict(r) for r in rows]}
            )
        )
        return
    if not rows:
        click.echo(f"profile {profile} has no extensions (find some with `orbit ext search`)")
        return
    for r in rows:
        chosen = "" if r.chosen else "  (comes with JupyterLab or Orbit)"
        click.echo(f"{r.package:<36} {r.version or '-':<10} {r.status}{chosen}")
        provides = [
            *(f"lab {x}" for x in r.labextensions),
            *(f"server {x}" for x in r.server_extensions),
        ]
        if provides:
            click.echo(f"    {', '.join(provides)}")
