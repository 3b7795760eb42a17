"""orbit doctor: check the machine and the profile; --fix repairs what Orbit can."""

from __future__ import annotations

import json
import sys

import click

from jupyter_orbit.cli._common import locations
from jupyter_orbit.cli._options import profile_option as _profile_option

_MARK = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red")}


def _show(checks: list) -> None:
    for c in checks:
        mark, colour = _MARK[c.status]
        click.secho(f"{mark} ", fg=colour, nl=False)
        click.echo(f"{c.name:<20} {c.detail}")
        if c.status != "ok" and c.fix:
            click.echo(f"  {'':<20} fix: {c.fix}")


@click.command("doctor")
@click.option("--fix", is_flag=True, help="Repair what Orbit can repair by itself.")
@click.option(
    "--verify",
    is_flag=True,
    help="Also check every built environment's files against the hashes they were installed with.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def doctor_command(fix: bool, verify: bool, as_json: bool, profile: str) -> None:
    """Check Python, uv, the browser, a container engine, disk space and the profile."""
    from jupyter_orbit import doctor

    paths, _ = locations(profile)
    checks = doctor.run(paths, profile)
    if verify:
        checks += doctor.verify(paths)
    repaired = []
    if fix:
        repaired = doctor.repair(checks)
        if repaired:
            checks = doctor.run(paths, profile) + (doctor.verify(paths) if verify else [])
    if as_json:
        click.echo(
            json.dumps(
                {
                    "checks": [c.to_dict() for c in checks],
                    "repaired": [{"name": c.name, "did": did} for c, did in repaired],
                },
                indent=2,
            )
        )
    else:
        for c, did in repaired:
            click.echo(f"fixed {c.name}: {did}")
        _show(checks)
        if not fix and any(c.repair for c in checks if c.status != "ok"):
            click.echo("run `orbit doctor --fix` to repair what Orbit can repair itself", err=True)
    if any(c.status == "fail" for c in checks):
        sys.exit(1)
