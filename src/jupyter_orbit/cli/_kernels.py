"""orbit kernels: the menu of kernel recipes and what each needs here."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jupyter_orbit.errors import InputError


def kernels_command(folder: Path, *, as_json: bool, profile: str = "default") -> None:
    from jupyter_orbit.cli._run import _profile_engine
    from jupyter_orbit.indexes import IndexPolicy
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices
    from jupyter_orbit.server.catalog import recipe_states

    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder", "give the folder new notebooks would go in")
    paths = Paths.from_env()
    choices = Choices(
        default_engine=_profile_engine(paths, profile),
        indexes=IndexPolicy.for_profile(paths, profile),
    )
    states = recipe_states(paths, folder, choices)
    if as_json:
        for s in states:
            s.pop("logo", None)
        click.echo(json.dumps({"folder": str(folder), "kernels": states}, indent=2))
        return
    _print(states)


def _print(states: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out.width = 200  # piped output: one line per kernel
    colours = {"ready": "green", "installable": "cyan", "needs-system": "yellow", "error": "red"}
    table = Table("kernel", "", "state", "", box=None, padding=(0, 2))
    for s in states:
        colour = colours.get(s["state"], "white")
        detail = s["detail"] + (f"\n  run: [bold]{s['command']}[/]" if s.get("command") else "")
        table.add_row(
            s["name"], f"[dim]{s['display_name']}[/]", f"[{colour}]{s['state']}[/]", detail
        )
    out.print(table)
