"""orbit config get|set|unset: the profile's server and JupyterLab settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jupyter_orbit.cli._common import locations, progress
from jupyter_orbit.cli._options import profile_option as _profile_option

if TYPE_CHECKING:
    from jupyter_orbit.paths import Paths


@click.group("config")
def config_group() -> None:
    """The profile's server and JupyterLab settings (Class.setting, checked before stored)."""


@config_group.command("get")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def get_command(key: str | None, as_json: bool, profile: str) -> None:
    """KEY's value (or default); a class name lists its settings; nothing lists what is set."""
    from jupyter_orbit.profiles import config

    paths, _ = locations(profile)
    if key is None:
        values = config.stored(paths, profile)
        if as_json:
            click.echo(json.dumps(values, indent=2))
            return
        for k, v in values.items():
            click.echo(f"{k} = {json.dumps(v)}")
        return
    with progress(True) as p:
        answer = config.get(paths, profile, key, p)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    if "settings" in answer:
        for row in answer["settings"]:
            value = row["value"] if row["set"] else row["default"]
            mark = "*" if row["set"] else " "
            refused = "  [Orbit sets this]" if row["refused"] else ""
            click.echo(f"{mark} {row['key']} = {json.dumps(value)}  ({row['kind']}){refused}")
            if row["help"]:
                click.echo(f"      {row['help']}")
        click.echo("(* set in this profile)", err=True)
        return
    suffix = "" if answer["set"] else "  (default)"
    click.echo(f"{json.dumps(answer['value'])}{suffix}")


def _note_running(paths: Paths, profile: str, restart: bool, undo: Callable[[], None]) -> None:
    """Say that a running server needs a restart, or restart it (undoing the change if the
    server will not start with it)."""
    from jupyter_orbit.profiles import server_env
    from jupyter_orbit.profiles.restart import restart as restart_server
    from jupyter_orbit.profiles.store import ProfileStore
    from jupyter_orbit.state import running

    prof = paths.profile(profile)
    state = running(prof)
    if state is None:
        return
    if not restart:
        click.echo(
            f"the running server of profile {profile} keeps its old settings until it restarts "
            "(add --restart, or `orbit down` then `orbit up`)",
            err=True,
        )
        return
    store = ProfileStore(paths)

    def launch() -> server_env.ServerLaunch:
        settings = store.settings(profile)
        return server_env.ServerLaunch(
            server_env.ensure(paths, settings), server_env.launch_args(settings)
        )

    def back() -> server_env.ServerLaunch:
        undo()
        return launch()

    with progress(False, "restarting the server") as p:
        restart_server(paths, prof, state, launch(), p, undo=back, what="the new setting")
    click.echo(f"restarted the server of profile {profile}", err=True)


def _file_undo(path: Path) -> Callable[[], None]:
    """A function that puts ``path`` back as it is now."""
    from jupyter_orbit import atomic

    before = path.read_bytes() if path.exists() else None

    def undo() -> None:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            atomic.write_bytes(path, before)

    return undo


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--restart", is_flag=True, help="Restart a running server to apply it now.")
@_profile_option
def set_command(key: str, value: str, restart: bool, profile: str) -> None:
    """Set KEY (Class.setting) to VALUE, checked against the class it configures."""
    from jupyter_orbit.profiles import config

    paths, prof = locations(profile)
    watched = prof.settings_file if key in config.PROFILE_KEYS else prof.server_config
    undo = _file_undo(watched)
    with progress(False, "checking the setting") as p:
        new, previous = config.set_value(paths, profile, key, value, p)
    was = f" (was {json.dumps(previous)})" if previous is not None else ""
    click.echo(f"{key} = {json.dumps(new)}{was}")
    _note_running(paths, profile, restart, undo)


@config_group.command("unset")
@click.argument("key")
@click.option("--restart", is_flag=True, help="Restart a running server to apply it now.")
@_profile_option
def unset_command(key: str, restart: bool, profile: str) -> None:
    """Remove KEY from the profile's settings (back to its default)."""
    from jupyter_orbit.profiles import config

    paths, prof = locations(profile)
    watched = prof.settings_file if key in config.PROFILE_KEYS else prof.server_config
    undo = _file_undo(watched)
    previous = config.unset(paths, profile, key)
    click.echo(f"unset {key} (was {json.dumps(previous)})")
    _note_running(paths, profile, restart, undo)
