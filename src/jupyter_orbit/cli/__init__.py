"""The ``orbit`` command line: thin commands, each importing its work only when it runs.

One place (``main``) turns an ``OrbitError`` into a short message, a hint and an exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from jupyter_orbit import __version__


def _profile_option(f):  # noqa: ANN001
    return click.option(
        "--profile",
        default=lambda: os.environ.get("ORBIT_PROFILE", "default"),
        show_default="default",
        help="Profile to use (ORBIT_PROFILE).",
    )(f)


def _quiet_option(f):  # noqa: ANN001
    return click.option("--quiet", "-q", is_flag=True, help="No progress display.")(f)


_existing = click.Path(exists=False, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="orbit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Every notebook in its own reproducible environment, one Jupyter server.

    Without a command, opens the kernel menu (`orbit launcher`).
    """
    if ctx.invoked_subcommand is None:
        from jupyter_orbit.cli._launcher import launcher_command

        launcher_command(None, browser=None, no_browser=False, profile=_default_profile())


def _default_profile() -> str:
    return os.environ.get("ORBIT_PROFILE", "default")


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
@_browser_option
@_profile_option
@_quiet_option
def up(
    path: Path,
    no_browser: bool,
    port: int | None,
    detach: bool,
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
def kernels(folder: Path, as_json: bool) -> None:
    """The kernels Orbit offers and whether each is ready, installable, or needs system packages.

    FOLDER (default: here) is where a new notebook would go: its project files count.
    """
    from jupyter_orbit.cli._kernels import kernels_command

    kernels_command(folder, as_json=as_json)


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
@_profile_option
@_quiet_option
def run(
    notebook: Path,
    output: Path | None,
    timeout: int | None,
    python: str | None,
    yes: bool,
    no_server: bool,
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
        profile=profile,
        quiet=quiet,
    )
    sys.exit(code)


@cli.command()
@click.argument("target", type=_existing, default=Path(), required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--dry-run", is_flag=True, help="Also resolve exact versions, installing nothing.")
@click.option("--python", "python", metavar="VERSION", help="Python version for the environment.")
@_profile_option
def env(target: Path, as_json: bool, dry_run: bool, python: str | None, profile: str) -> None:
    """Show the environment of a notebook or folder: spec, sources, id and plan."""
    from jupyter_orbit.cli._env import env_command

    env_command(target, as_json=as_json, dry_run=dry_run, python=python)


@cli.command()
@click.argument("path", type=_existing, required=False)
@click.option("--revoke", is_flag=True, help="Stop trusting PATH.")
def trust(path: Path | None, revoke: bool) -> None:
    """Trust a project folder to declare what gets installed (no PATH: list trusted folders)."""
    from jupyter_orbit.cli._trust import trust_command

    trust_command(path, revoke=revoke)


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
    except Exception as err:  # a bug: say so briefly unless debugging
        if debug:
            raise
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
