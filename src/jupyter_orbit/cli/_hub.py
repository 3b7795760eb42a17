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
@click.option(
    "--swarm",
    is_flag=True,
    help="Users' servers as Docker Swarm services (this engine becomes a manager if it is in "
    "no swarm; other machines join with the command printed).",
)
@click.option(
    "--advertise-addr",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDR",
    help="With --swarm: the address other nodes reach this manager at.",
)
@click.option(
    "--registry",
    metavar="HOST:PORT",
    help="With --swarm: the registry the users' image is pushed to and every node pulls from.",
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
    swarm: bool = False,
    advertise_addr: str = "127.0.0.1",
    registry: str | None = None,
) -> None:
    """Build the project's images, write the compose confection for PATH, and run it."""
    from jupyter_orbit.cli._common import locations, progress
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.hub.runner import Hub, SwarmChoice
    from jupyter_orbit.trust import TrustStore

    if (registry or advertise_addr != "127.0.0.1") and not swarm:
        raise InputError("--registry and --advertise-addr go with --swarm", "add --swarm")
    paths, prof = locations(profile)
    project = path.expanduser().resolve()
    if not project.is_dir():
        raise InputError(f"{path}: no such folder", "give the project folder users should get")
    TrustStore(paths.trust_file).trust(project)  # handing a folder to `orbit hub up` trusts it
    prof.ensure()
    with progress(quiet, "starting the local hub") as p:
        info = Hub(paths, prof).up(
            project,
            port=port,
            rewrite=rewrite,
            allow_host_access=allow_host_access,
            progress=p,
            swarm_choice=SwarmChoice(advertise_addr, registry) if swarm else None,
        )
    if as_json:
        click.echo(json.dumps(info.public()))
        return
    click.echo(f"JupyterHub (profile {profile}) at {info.url}")
    click.echo(
        f"  log in with any user name and the password ORBIT_HUB_PASSWORD in {info.folder}/hub.env"
    )
    click.echo(f"  compose file: {info.folder}/docker-compose.yml")
    if info.join:
        click.echo(
            f"  users' servers run as swarm services; other machines join with:\n    {info.join}"
        )
    click.echo("  stop it with `orbit hub down`")


@hub.command()
@click.option("--volumes", is_flag=True, help="Also delete the users' notebooks and hub data.")
@click.option(
    "--leave-swarm", is_flag=True, help="This engine leaves the swarm (docker swarm leave --force)."
)
@_profile_option
def down(volumes: bool, profile: str, leave_swarm: bool = False) -> None:
    """Stop the hub and every user's server (their notebooks are kept unless --volumes)."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    removed = Hub(paths, prof).down(volumes=volumes, leave_swarm=leave_swarm)
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
    for service in info.get("services", []):
        click.echo(f"  service   {service['name']:<28} {service['image']}")


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


@hub.group("config")
def hub_config() -> None:
    """How the hub works: JupyterHub's own settings (Class.setting), checked, then applied with
    a restart that keeps users' servers running."""


@hub_config.command("get")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def config_get(key: str | None, as_json: bool, profile: str) -> None:
    """KEY's value (or default); a class name lists its settings; nothing lists what is set."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub import hubconfig
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    hub_ = Hub(paths, prof)
    if key is None:
        values = {k: v["value"] for k, v in hubconfig.stored(hub_.folder).items()}
        if as_json:
            click.echo(json.dumps(values, indent=2))
        for k, v in values.items() if not as_json else ():
            click.echo(f"{k} = {json.dumps(v)}")
        return
    answer = hubconfig.get(hub_.client, hub_.hub_image(), hub_.folder, key)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    elif "settings" in answer:
        for row in answer["settings"]:
            mark = "*" if row["set"] else " "
            refused = "  [Orbit sets this]" if row["refused"] else ""
            click.echo(
                f"{mark} {row['key']} = {json.dumps(row['value'])}  ({row['kind']}){refused}"
            )
            if row["help"]:
                click.echo(f"      {row['help']}")
        click.echo("(* set for this hub)", err=True)
    else:
        click.echo(json.dumps(answer["value"]) + ("" if answer["set"] else "  (default)"))


def _apply(hub_, profile: str, restart: bool, undo) -> None:  # noqa: ANN001
    """Write the hub's config again and restart it; a hub that will not start with the new
    setting gets the previous one back."""
    from jupyter_orbit.cli._common import progress
    from jupyter_orbit.errors import OrbitError

    if not restart:
        click.echo("not applied yet: the hub reads it when it restarts (`orbit hub up`)", err=True)
        return
    try:
        with progress(False, "restarting the hub") as p:
            done = hub_.apply_settings(p)
    except OrbitError:
        undo()
        with progress(True) as p:
            hub_.apply_settings(p)
        raise
    if not done["restarted"]:
        click.echo(f"the hub of profile {profile!r} is not running: it starts with it", err=True)
        return
    click.echo(
        f"restarted the hub of profile {profile!r}; users' servers kept running: "
        f"{', '.join(done['kept']) or 'none were running'}",
        err=True,
    )
    if done["lost"]:
        click.echo(f"  stopped meanwhile: {', '.join(done['lost'])}", err=True)


def _undo_file(path: Path):
    from jupyter_orbit import atomic

    before = path.read_bytes() if path.exists() else None

    def undo() -> None:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            atomic.write_bytes(path, before, mode=0o600)

    return undo


@hub_config.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--no-restart", is_flag=True, help="Store it; a running hub reads it when restarted.")
@_profile_option
def config_set(key: str, value: str, no_restart: bool, profile: str) -> None:
    """Set KEY (Class.setting) to VALUE, checked against the hub's own classes."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub import hubconfig
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    hub_ = Hub(paths, prof)
    undo = _undo_file(hubconfig.settings_path(hub_.folder))
    new, previous = hubconfig.set_value(hub_.client, hub_.hub_image(), hub_.folder, key, value)
    was = f" (was {json.dumps(previous)})" if previous is not None else ""
    click.echo(f"{key} = {json.dumps(new)}{was}")
    _apply(hub_, profile, not no_restart, undo)


@hub_config.command("unset")
@click.argument("key")
@click.option("--no-restart", is_flag=True, help="Store it; a running hub reads it when restarted.")
@_profile_option
def config_unset(key: str, no_restart: bool, profile: str) -> None:
    """Remove KEY from the hub's settings (back to Orbit's value or the default)."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.hub import hubconfig
    from jupyter_orbit.hub.runner import Hub

    paths, prof = locations(profile)
    hub_ = Hub(paths, prof)
    undo = _undo_file(hubconfig.settings_path(hub_.folder))
    previous = hubconfig.unset(hub_.folder, key)
    click.echo(f"unset {key} (was {json.dumps(previous)})")
    _apply(hub_, profile, not no_restart, undo)
