"""orbit hub up | down | status | logs: a profile's local JupyterHub (users' servers in containers).

This module is imported with the command line, so it holds only the click commands; the work is
imported when a command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jupyter_orbit.cli._options import profile_option as _profile_option
from jupyter_orbit.cli._options import quiet_option


@click.group()
def hub() -> None:
    """A local JupyterHub from one compose file: each user's server in a container."""


@hub.command()
@click.argument("path", required=False, type=click.Path(path_type=Path), default=Path())
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (kept once chosen).")
@click.option("--rewrite", is_flag=True, help="Write Orbit's compose file again over your edits.")
@click.option(
    "--allow-host-access",
    is_flag=True,
    help="Run a compose file that gives containers host access (privileged, the engine's "
    "socket, /, host namespaces, ports on every interface).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line (no secrets).")
@quiet_option
@_profile_option
def up(
    path: Path,
    port: int | None,
    rewrite: bool,
    allow_host_access: bool,
    as_json: bool,
    quiet: bool,
    profile: str,
) -> None:
    """Build the project's images, write the compose confection for PATH, and run it."""
    from jupyter_orbit.cli._common import locations, progress
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.hub.runner import Hub
    from jupyter_orbit.trust import TrustStore

    paths, prof = locations(profile)
    project = path.expanduser().resolve()
    if not project.is_dir():
        raise InputError(f"{path}: no such folder", "give the project folder users should get")
    TrustStore(paths.trust_file).trust(project)  # handing a folder to `orbit hub up` trusts it
    prof.ensure()
    with progress(quiet, "starting the local hub") as p:
        info = Hub(paths, prof).up(
            project, port=port, rewrite=rewrite, allow_host_access=allow_host_access, progress=p
        )
    if as_json:
        click.echo(json.dumps(info.public()))
        return
    click.echo(f"JupyterHub (profile {profile}) at {info.url}")
    click.echo(
        f"  log in with any user name and the password ORBIT_HUB_PASSWORD in {info.folder}/hub.env"
    )
    click.echo(f"  compose file: {info.folder}/docker-compose.yml")
    click.echo("  stop it with `orbit hub down`")


@hub.command()
@click.option("--volumes", is_flag=True, help="Also delete the users' notebooks and hub data.")
@_profile_option
def down(volumes: bool, profile: str) -> None:
    """Stop the hub and every user's server (their notebooks are kept unless --volumes)."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    removed = Hub(paths, prof).down(volumes=volumes)
    click.echo(f"stopped the hub of profile {profile!r}")
    for name in removed:
        click.echo(f"  removed {name}")


@hub.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def status(as_json: bool, profile: str) -> None:
    """The hub's state, its users and their servers."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    info = Hub(paths, prof).status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if not info["running"]:
        state = info["hub"]["status"] if info["hub"] else "not started"
        click.echo(f"the hub of profile {profile!r} is not running ({state})")
        return
    click.echo(f"hub of profile {profile}: {info['url']}  (project {info['project']})")
    click.echo(f"  compose file {info['compose_file']}; secrets in {info['env_file']}")
    for user in info.get("users", []):
        click.echo(f"  user {user['name']:<16} server {'running' if user['server'] else 'stopped'}")
    for server in info["servers"]:
        click.echo(f"  container {server['name']:<28} {server['status']}")


@hub.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=click.IntRange(0), default=100, show_default=True)
@click.option("--user", metavar="NAME", help="A user's server instead of the hub.")
@_profile_option
def logs(follow: bool, tail: int, user: str | None, profile: str) -> None:
    """The hub's log (or a user's server's)."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    try:
        for chunk in Hub(paths, prof).logs(follow=follow, tail=tail, user=user):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
