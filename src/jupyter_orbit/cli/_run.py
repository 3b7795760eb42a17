"""orbit run: build or reuse a notebook's environment, then execute every cell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jupyter_orbit.cli._common import confirm, locations, progress, use_profile
from jupyter_orbit.errors import InputError, ServerError
from jupyter_orbit.paths import Paths

if TYPE_CHECKING:
    from jupyter_orbit.model import Resolution
    from jupyter_orbit.paths import ProfilePaths
    from jupyter_orbit.prepare import Prepared
    from jupyter_orbit.prestart import KernelCommand, Started


def run_command(notebook: Path, **options: Any) -> int:
    """On the profile's server when it is up and has the notebook's environment built (it runs
    the pipeline itself and keeps the answer); otherwise ``_run_command``, installing from the
    installed bundles' stand-in registries, if any: the running server's, else ones started for
    this run (the kernel uses them too)."""
    if options["use_server"] and not options.get("dry_run"):
        ran = _run_on_server(Path(notebook), options)
        if ran is not None:
            return _finish(*ran, options["output"])
    paths, prof = locations(options["profile"])
    ahead = _start_ahead(paths, prof, Path(notebook), options)
    try:
        from jupyter_orbit.bundle.serve import serving

        with serving(paths, prof) as stand_ins:
            return _run_command(notebook, offline=stand_ins, ahead=ahead, **options)
    finally:
        if ahead is not None:
            ahead.discard()  # unless the run adopted it


def _start_ahead(
    paths: Paths, prof: ProfilePaths, notebook: Path, options: dict[str, Any]
) -> Started | None:
    """The kernel the notebook's last run here started, started again before anything else
    (``jupyter_orbit.prestart``); None without a record, for a dry run, or when the profile's
    server is up (a run may still go there once its environment is prepared)."""
    from jupyter_orbit import prestart

    if options.get("dry_run"):
        return None
    command = prestart.recall(paths.cache_dir, notebook.expanduser().resolve())
    if command is None:
        return None
    if options["use_server"]:
        from jupyter_orbit.state import running

        if running(prof, check_http=False) is not None:
            return None
    return prestart.start(command, prof.runtime_dir, prof.logs_dir / "run.log")


def _run_on_server(notebook: Path, options: dict[str, Any]) -> tuple[dict, dict] | None:
    """Ask the running server to run ``notebook`` in the environment the pipeline finds for it;
    None when there is no server for it, or the server says to prepare it here (to build it,
    ask for consent, start services, or tell an error): nothing ran then."""
    from jupyter_orbit.state import running

    _, prof = locations(options["profile"])
    state = running(prof, check_http=False)
    target = notebook.expanduser().resolve()
    if state is None or target.suffix != ".ipynb" or not target.is_file():
        return None
    if not target.parent.is_relative_to(Path(state.root_dir).resolve()):
        return None
    nb_json = _read_json(target)
    timeout = options["timeout"]
    payload = {
        "notebook": nb_json,
        "cwd": str(target.parent),
        "session": str(target),
        "timeout": timeout,
        "python": options["python"],
        "engine": options["engine"],
        "as_of": options["as_of"],
        "locked": options["locked"],
        "allow_host_access": options["allow_host_access"],
    }
    try:
        events = state.client(timeout=timeout * 2 if timeout else None).stream(
            "/orbit/api/run", payload
        )
        final = _show(events)
    except ServerError:
        return None  # no answer before any cell ran: prepare and run here
    if final.get("prepare") == "here":
        return None
    return final, nb_json


def _finish(final: dict, nb_json: dict | None, output: Path | None) -> int:
    """Write the executed notebook if asked, and say what failed; the exit code."""
    if output is not None:
        _write_notebook(output, final["notebook"])
        click.echo(f"wrote {output}", err=True)  # stdout carries the cells' own output
    if not final.get("ok"):
        _report_failure(final, nb_json)
        return 1
    return 0


def _run_command(
    notebook: Path,
    *,
    output: Path | None,
    timeout: int | None,
    python: str | None,
    yes: bool,
    use_server: bool,
    profile: str,
    quiet: bool,
    as_of: str | None = None,
    locked: bool = False,
    engine: str | None = None,
    allow_host_access: bool = False,
    dry_run: bool = False,
    offline: Any = None,
    ahead: Started | None = None,
) -> int:
    from jupyter_orbit._imports import skip_unused
    from jupyter_orbit.hardware.fit import Hardware
    from jupyter_orbit.indexes import IndexPolicy
    from jupyter_orbit.prepare import Choices, Consent, prepare
    from jupyter_orbit.settings import cooldown_days

    skip_unused()  # before anything imports jsonschema (nbformat, through the pipeline or here)
    paths, prof = locations(profile)
    use_profile(profile)
    choices = Choices(
        python=python,
        engine=engine,
        default_engine=_profile_engine(paths, profile),
        as_of=as_of,
        cooldown_days=cooldown_days(paths.profile(profile).settings_file),
        locked=locked,
        allow_host_access=allow_host_access,
        consent=Consent(yes=yes, ask=_ask if _interactive() else None),
        services=_profile_services(paths, profile),
        hardware=Hardware.of_profile(prof),
        indexes=IndexPolicy.for_profile(paths, profile),
        offline=offline,
    )
    target = Path(notebook)
    if target.is_dir():
        raise InputError(f"{notebook} is a folder", "give the path of a .ipynb file")
    if dry_run:
        _print_plan(prepare(target, choices, paths, until="plan"))
        return 0
    with progress(quiet, "building the environment") as p:
        prepared = prepare(target, choices, paths, progress=p)
    res, env, recipe = prepared.resolution, prepared.environment, prepared.recipe
    assert res.notebook is not None and env is not None
    cwd = res.notebook.parent
    final, nb_json = None, None
    if use_server and not prepared.services:  # a kernel beside services starts here
        from jupyter_orbit.state import running

        state = running(prof, check_http=False)
        # The server runs notebooks inside its root only, as its own kernels see it.
        if state is not None and cwd.resolve().is_relative_to(Path(state.root_dir).resolve()):
            nb_json = _read_json(res.notebook)
            payload = {
                "notebook": nb_json,
                "env_id": env.env_id,
                "engine": env.engine,
                "kernel": recipe.name,
                "cwd": str(cwd),
                "session": str(res.notebook),
                "timeout": timeout,
                "imports": [r.name for r in res.spec.declared("pypi")],
                "allow_host_access": allow_host_access,  # the server refuses what it was not given
            }
            try:
                events = state.client(timeout=timeout * 2 if timeout else None).stream(
                    "/orbit/api/run", payload
                )
                final = _show(events)
            except ServerError:
                final = None  # no answer before any cell ran: run here instead
    if final is None:
        import asyncio

        from jupyter_orbit import prestart

        kernel = prestart.KernelCommand.of(
            prepared.argv, recipe.language, prepared.kernel_env, cwd, str(res.notebook)
        )
        keep = prepared.engine.starts_ahead and offline is None and not prepared.services
        if keep and (ahead is None or ahead.command != kernel):
            prestart.remember(paths.cache_dir, res.notebook.resolve(), kernel)
        final, nb_json = asyncio.run(
            _run_here(res.notebook, kernel, prof.logs_dir, timeout, ahead=ahead)
        )
    return _finish(final, nb_json, output)


def _read_json(notebook: Path) -> dict[str, Any]:
    return json.loads(notebook.read_text(encoding="utf-8"))


def _print_plan(prepared: Prepared) -> None:
    """What ``--dry-run`` prints: the steps the run would take, exactly as the engine runs them."""
    from jupyter_orbit import asof
    from jupyter_orbit.prepare import declared

    res, plan = prepared.resolution, prepared.plan
    assert plan is not None
    click.echo(f"{res.notebook}: environment {plan.env_id} ({plan.engine})")
    click.echo(f"  {'as of':<10} {asof.describe(res)}")
    if res.python_detail:
        click.echo(f"  {'python':<10} {res.python_detail}")
    if plan.built:
        click.echo(f"  {'built':<10} nothing to do; the kernel starts in it")
    if prepared.hardware is not None and (accelerator := prepared.hardware.accelerator):
        click.echo(f"  {'torch/jax':<10} {accelerator.variant}: {accelerator.reason}")
    for step in plan.steps:
        click.echo(f"  {step.action:<10} {step.detail}")
    for warning in prepared.warnings:
        click.echo(f"  warning: {warning}")
    if not plan.built and (wanted := declared(res)):
        click.echo(f"  needs your consent (--yes, or `orbit trust {res.project_root}`) for:")
        for item in wanted:
            click.echo(f"    {item}")
    click.echo(f"  {'run':<10} every cell with the {prepared.recipe.display_name} kernel")


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _ask(res: Resolution, wanted: list[str]) -> bool:
    """At a terminal: show what the notebook declares and ask before installing it."""
    click.echo(f"{res.notebook} declares:", err=True)
    for item in wanted:
        click.echo(f"  {item}", err=True)
    if all(" service: " in item for item in wanted):
        return confirm("Start these services beside the kernel?")
    return confirm("Install these into a new environment?")


def _profile_engine(paths: Paths, profile: str) -> str:
    """The profile's default engine (``defaults.engine`` in its settings)."""
    from jupyter_orbit import settings

    path = paths.profile(profile).settings_file
    return settings.read(path).defaults.engine if path.exists() else "local"


def _profile_services(paths: Paths, profile: str) -> str:
    """What the profile does with services beside kernels (``defaults.services``)."""
    from jupyter_orbit import settings

    path = paths.profile(profile).settings_file
    return settings.read(path).defaults.services if path.exists() else "stop"


async def _run_here(
    notebook: Path,
    kernel: KernelCommand,
    logs_dir: Path,
    timeout: int | None,
    ahead: Started | None = None,
) -> tuple[dict, dict]:
    """Without a server: the kernel started ahead when it is the one prepared, else a kernel
    started now (the one ahead stopped); the notebook is read while it boots; the kernel's own
    messages go to the profile's run.log. Returns the final event and the notebook's JSON."""
    from jupyter_orbit.execute import adopt_kernel, execute, start_kernel, stop_kernel

    async def emit(event: dict) -> None:
        _show_event(event)

    log_path = logs_dir / "run.log"
    cwd = Path(kernel.cwd)
    if ahead is not None and ahead.command == kernel:
        km = await adopt_kernel(ahead, kernel.language)
    else:
        if ahead is not None:
            ahead.discard()
        logs_dir.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:  # the kernel writes to its own copy of the file
            km = await start_kernel(
                list(kernel.argv),
                kernel.language,
                cwd,
                kernel.session,
                log=log,
                extra_env=dict(kernel.env),
            )
    try:
        nb_json = _read_json(notebook)
        final = await execute(nb_json, km=km, cwd=cwd, timeout=timeout, emit=emit)
    finally:
        await stop_kernel(km)
    if final.get("ename") in ("DeadKernel", "KernelDied"):  # what it said before it died
        final["stderr"] = log_path.read_text(errors="replace").strip().splitlines()[-20:]
    return final, nb_json


def _show(events: Any) -> dict | None:
    """Show the server's events up to the final one; the server stops its kernel after that
    on its own, so the run here ends without waiting for it."""
    final = None
    for event in events:
        _show_event(event)
        if event.get("done"):
            final = event
            break
    if hasattr(events, "close"):
        events.close()
    if final is None:
        raise ServerError("the server stopped answering mid-run", "see `orbit status` and its log")
    return final


def _show_event(event: dict) -> None:
    for out in event.get("outputs", ()):
        if out.get("output_type") == "stream":
            stream = sys.stderr if out.get("name") == "stderr" else sys.stdout
            text = out.get("text", "")
            stream.write("".join(text) if isinstance(text, list) else text)
            stream.flush()


def _report_failure(final: dict, nb_json: dict | None) -> None:
    if final.get("traceback"):
        click.echo("\n".join(final["traceback"]), err=True)
    where = "the notebook"
    if (index := final.get("cell")) is not None and nb_json is not None:
        source = nb_json["cells"][index].get("source", "")
        first = ("".join(source) if isinstance(source, list) else source).strip().splitlines()
        where = f"cell {index + 1}" + (f" ({first[0][:60]!r})" if first else "")
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    if final.get("ename") == "KernelDied":
        click.echo(str(final.get("evalue")), err=True)
    else:
        click.echo(
            f"{where} failed: {final.get('ename', 'Error')}: {final.get('evalue', '')}", err=True
        )
    if lines := final.get("stderr"):
        click.echo("  the kernel's last lines on stderr:", err=True)
        for line in lines:
            click.echo(f"    {line}", err=True)


def _write_notebook(path: Path, nb: dict) -> None:
    import nbformat

    from jupyter_orbit import atomic

    atomic.write_text(path, nbformat.writes(nbformat.from_dict(nb)) + "\n")
