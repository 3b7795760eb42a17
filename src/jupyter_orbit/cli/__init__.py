"""The ``orbit`` command line: thin commands, each importing its work only when it runs.

One place (``main``) turns an ``OrbitError`` into a short message, a hint and an exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import ClassVar

import click

from jupyter_orbit import __version__
from jupyter_orbit.cli import _bazaar
from jupyter_orbit.cli._options import default_profile as _default_profile
from jupyter_orbit.cli._options import profile_option as _profile_option
from jupyter_orbit.cli._options import quiet_option as _quiet_option


def _as_of_option(f):  # noqa: ANN001
    return click.option(
        "--as-of",
        "as_of",
        metavar="DATE|now",
        help="Resolve unpinned packages as they were on DATE (UTC), or today: overrides the "
        "notebook's stamp, its lock and its git date.",
    )(f)


_existing = click.Path(exists=False, path_type=Path)


def _engine_options(f):  # noqa: ANN001
    f = click.option(
        "--allow-host-access",
        is_flag=True,
        help="Let notebooks ask for container options that reach into the host (privileged, "
        "the engine's socket, /, host namespaces, ports on every interface).",
    )(f)
    return click.option(
        "--engine",
        metavar="NAME",
        help="Engine for notebooks that name none: local, docker, ssh:HOST, gateway:NAME.",
    )(f)


class _Commands(click.Group):
    """The commands defined here, and those in modules of their own (``LAZY``: name → module
    and attribute), imported only when one of them is asked for or listed (``--help``)."""

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "bundle": ("_bundle", "bundle_group"),
        "config": ("_config", "config_group"),
        "data": ("_data", "data_group"),
        "doctor": ("_doctor", "doctor_command"),
        "envs": ("_disk", "envs_command"),
        "ext": ("_ext", "ext_group"),
        "gc": ("_disk", "gc_command"),
        "hardware": ("_hardware", "hardware_command"),
        "hub": ("_hub", "hub"),
        "install-desktop": ("_desktop", "install_desktop_command"),
        "open": ("_desktop", "open_command"),
        "profile": ("_profile", "profile_group"),
        "publish": ("_publish", "publish_command"),
        "remote": ("_remote", "remote_group"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, attr = self.LAZY[name]
            self.add_command(getattr(importlib.import_module(f"{__name__}.{module}"), attr), name)
        return super().get_command(ctx, name)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.version_option(__version__, prog_name="orbit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Every notebook in its own reproducible environment, one Jupyter server.

    Without a command, opens the kernel menu (`orbit launcher`).
    """
    if ctx.invoked_subcommand is None:
        from jupyter_orbit.cli._launcher import launcher_command

        launcher_command(None, browser=None, no_browser=False, profile=_default_profile())


def _browser_option(f):  # noqa: ANN001
    return click.option(
        "--browser",
        metavar="NAME|PATH",
        help="Browser to open: app (default), system, none, chrome, chromium, edge, or a path "
        "(ORBIT_BROWSER).",
    )(f)


@cli.command()
@click.argument("path", required=False, type=_existing, default=Path())
@click.option("--no-browser", is_flag=True, help="Do not open a browser window.")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port to listen on (default: any free)."
)
@click.option("--detach", is_flag=True, help="Return once the server answers; print one JSON line.")
@_engine_options
@_browser_option
@_profile_option
@_quiet_option
def up(
    path: Path,
    no_browser: bool,
    port: int | None,
    detach: bool,
    engine: str | None,
    allow_host_access: bool,
    browser: str | None,
    profile: str,
    quiet: bool,
) -> None:
    """Start (or reuse) the profile's server rooted at PATH."""
    from jupyter_orbit.cli._server import up_command

    up_command(
        path,
        no_browser=no_browser,
        port=port,
        detach=detach,
        profile=profile,
        quiet=quiet,
        engine=engine,
        allow_host_access=allow_host_access,
        browser=browser,
    )


@cli.command()
@click.argument("path", required=False, type=_existing)
@click.option("--no-browser", is_flag=True, help="Print the page's address instead of opening it.")
@_browser_option
@_profile_option
def launcher(path: Path | None, no_browser: bool, browser: str | None, profile: str) -> None:
    """Open the kernel menu, starting the profile's server (rooted at PATH) if needed."""
    from jupyter_orbit.cli._launcher import launcher_command

    launcher_command(path, browser=browser, no_browser=no_browser, profile=profile)


@cli.command()
@click.argument("folder", required=False, type=_existing, default=Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def kernels(folder: Path, as_json: bool, profile: str) -> None:
    """The kernels Orbit offers and whether each is ready, installable, or needs system packages.

    FOLDER (default: here) is where a new notebook would go: its project files count.
    """
    from jupyter_orbit.cli._kernels import kernels_command

    kernels_command(folder, as_json=as_json, profile=profile)


@cli.command()
@_profile_option
def down(profile: str) -> None:
    """Stop the profile's server, shutting its kernels down cleanly."""
    from jupyter_orbit.cli._server import down_command

    down_command(profile=profile)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def status(as_json: bool, profile: str) -> None:
    """The running server, its kernels and the environment of each."""
    from jupyter_orbit.cli._server import status_command

    status_command(as_json=as_json, profile=profile)


@cli.command()
@click.argument("notebook", type=_existing)
@click.option("--output", "-o", type=_existing, help="Write the executed notebook here.")
@click.option("--timeout", type=click.IntRange(1), help="Seconds each cell may take.")
@click.option("--python", "python", metavar="VERSION", help="Python version for the environment.")
@click.option(
    "--yes", "-y", is_flag=True, help="Install what the notebook declares without asking."
)
@click.option("--no-server", is_flag=True, help="Run here even if the profile's server is up.")
@_as_of_option
@click.option("--locked", is_flag=True, help="Fail unless the notebook's lock is up to date.")
@click.option(
    "--dry-run", is_flag=True, help="Print the steps a run would take; build and run nothing."
)
@_engine_options
@_profile_option
@_quiet_option
def run(
    notebook: Path,
    output: Path | None,
    timeout: int | None,
    python: str | None,
    yes: bool,
    no_server: bool,
    as_of: str | None,
    locked: bool,
    dry_run: bool,
    engine: str | None,
    allow_host_access: bool,
    profile: str,
    quiet: bool,
) -> None:
    """Build or reuse NOTEBOOK's environment and execute every cell."""
    from jupyter_orbit.cli._run import run_command

    code = run_command(
        notebook,
        output=output,
        timeout=timeout,
        python=python,
        yes=yes,
        use_server=not no_server,
        as_of=as_of,
        profile=profile,
        quiet=quiet,
        locked=locked,
        engine=engine,
        allow_host_access=allow_host_access,
        dry_run=dry_run,
    )
    sys.exit(code)


@cli.command()
@click.argument("target", type=_existing, default=Path(), required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--dry-run", is_flag=True, help="Also resolve exact versions, installing nothing.")
@click.option("--python", "python", metavar="VERSION", help="Python version for the environment.")
@_as_of_option
@click.option(
    "--engine", metavar="NAME", help="Plan for this engine (local, docker, ssh:HOST, gateway:NAME)."
)
@_profile_option
def env(
    target: Path,
    as_json: bool,
    dry_run: bool,
    python: str | None,
    as_of: str | None,
    engine: str | None,
    profile: str,
) -> None:
    """Show the environment of a notebook or folder: spec, sources, id, date and plan."""
    from jupyter_orbit.cli._env import env_command

    env_command(
        target,
        as_json=as_json,
        dry_run=dry_run,
        python=python,
        as_of=as_of,
        engine=engine,
        profile=profile,
    )


@cli.command()
@click.argument("target", type=_existing)
@click.argument("date", required=False, metavar="[DATE|now]")
@click.option(
    "--clear", is_flag=True, help="Remove the stamp (and forget a remembered date) instead."
)
def stamp(target: Path, date: str | None, clear: bool) -> None:
    """Write the date TARGET's packages are resolved as of into the notebook (a folder: every
    notebook under it). Without DATE: the date Orbit resolves it as of now (the date it
    remembered for the notebook, its git date, or today)."""
    from jupyter_orbit.cli._stamp import stamp_command

    stamp_command(target, date=date, clear=clear)


@cli.command()
@click.argument("path", type=_existing, required=False)
@click.option("--revoke", is_flag=True, help="Stop trusting PATH.")
def trust(path: Path | None, revoke: bool) -> None:
    """Trust a project folder to declare what gets installed (no PATH: list trusted folders)."""
    from jupyter_orbit.cli._trust import trust_command

    trust_command(path, revoke=revoke)


_bazaar.register(cli)  # search, add, remove, lock, export


def main() -> None:
    from jupyter_orbit.errors import EXIT_FAILURE, OrbitError

    debug = os.environ.get("ORBIT_DEBUG") == "1"
    try:
        cli.main(prog_name="orbit", standalone_mode=False)
    except OrbitError as err:
        if debug:
            raise
        _report(err)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as err:  # a full, read-only or forbidden disk is said as such
        from jupyter_orbit.errors import from_os_error

        if debug:
            raise
        if (said := from_os_error(err)) is None:
            _internal(err)
        _report(said)
        sys.exit(said.exit_code)
    except Exception as err:  # a bug: say so briefly unless debugging
        if debug:
            raise
        _internal(err)


def _internal(err: Exception) -> None:
    from jupyter_orbit.errors import EXIT_FAILURE

    click.echo(f"orbit: internal error: {type(err).__name__}: {err}", err=True)
    click.echo("  set ORBIT_DEBUG=1 to see the traceback, and please report it", err=True)
    sys.exit(EXIT_FAILURE)


def _report(err: Exception) -> None:
    from jupyter_orbit.errors import OrbitError

    assert isinstance(err, OrbitError)
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(str(err), err=True)
    if err.hint:
        click.secho("  hint: ", fg="cyan", err=True, nl=False)
        click.echo(err.hint, err=True)
