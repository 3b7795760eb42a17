"""The services beside the kernels, as ``orbit status`` lists them."""

from __future__ import annotations

from typing import Any

import click

from jupyter_orbit.paths import Paths


def listing(paths: Paths) -> list[dict[str, Any]]:
    """This ORBIT_HOME's services on the local container engine (none when it has none)."""
    from jupyter_orbit.engines.services import ServiceRunner, engine_here
    from jupyter_orbit.errors import OrbitError

    if not engine_here():
        return []
    try:
        return ServiceRunner(paths).listing()
    except OrbitError:
        return []


def show(services: list[dict[str, Any]]) -> None:
    if not services:
        return
    click.echo("services beside the kernels:")
    for s in services:
        state = s["status"] + (f", {s['health']}" if s.get("health") else "")
        ports = ", ".join(f"{addr}→{port}" for port, addr in s["ports"].items())
        users = f"{s['kernels']} kernel{'s' * (s['kernels'] != 1)}" + (
            ", kept after them" if s["keep"] else ""
        )
        click.echo(f"  {s['service']:<12} {state:<18} {ports or 'no ports':<24} {users}")
        click.echo(f"               {s['container']} ({s['image']}), from {s.get('source') or '?'}")
