"""orbit run: build or reuse a notebook's environment, then execute every cell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from jupyter_orbit.cli._common import confirm, declared, locations, progress
from jupyter_orbit.errors import InputError, ServerError, TrustError
from jupyter_orbit.model import Resolution
from jupyter_orbit.paths import Paths


def run_command(
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
) -> int:
    from jupyter_orbit import asof
    from jupyter_orbit.engines import get_engine
    from jupyter_orbit.engines.base import Launch, engine_name
    from jupyter_orbit.engines.local import default_python
    from jupyter_orbit.errors import OrbitError
    from jupyter_orbit.kernels.recipes import get_recipe
    from jupyter_orbit.manifests import resolve

    paths, prof = locations(profile)
    res = resolve(
        notebook,
        python=python,
        default_python=default_python(),
        as_of=as_of,
        recall=asof.recall_now(paths),
    )
    if res.notebook is None:
        raise InputError(f"{notebook} is a folder", "give the path of a .ipynb file")
    if locked:
        from jupyter_orbit.bazaar.lock import check_locked

        check_locked(res.spec, res.notebook)
    chosen = get_engine(engine_name(res, override=engine), paths)
    res = chosen.adapt(res)
    launch = Launch(res.notebook, res.project_root, allow_host_access)
    chosen.check_launch(launch)  # refuse what the notebook may not ask for, before building
    env = chosen.lookup(res.spec)
    if env is None:
        _ensure_consent(paths, res, yes)
        with progress(quiet, "building the environment") as p:
            p.step("as-of", asof.describe(res))
            try:
                plan = chosen.plan(res.spec)
                for warning in plan.warnings:
                    p.warn(warning)
                for item in res.source_changing:
                    p.warn(f"packages may come from somewhere other than PyPI: {item}")
                env = chosen.realize(plan, p)
            except OrbitError as err:
                raise asof.explain(err, res) from None
        asof.remember_now(paths, res)

    recipe = get_recipe(res.spec.kernel)
    recipe.check_system()
    nb_json = json.loads(res.notebook.read_text(encoding="utf-8"))
    cwd = res.notebook.parent
    payload = {
        "notebook": nb_json,
        "env_id": env.env_id,
        "engine": env.engine,
        "kernel": recipe.name,
        "cwd": str(cwd),
        "session": str(res.notebook),
        "timeout": timeout,
        "imports": [r.name for r in res.spec.packages("pypi") if r.origin and r.origin.rank < 5],
        "project_root": str(res.project_root),
        "allow_host_access": allow_host_access,
    }
    final = None
    if use_server:
        from jupyter_orbit.server import lifecycle

        state = lifecycle.running(prof, check_http=False)
        if state is not None:
            try:
                events = state.client(timeout=timeout * 2 if timeout else None).stream(
                    "/orbit/api/run", payload
                )
                final = _show(events)
            except ServerError:
                final = None  # no answer before any cell ran: run here instead
    if final is None:
        argv = chosen.kernel_command(env, recipe, launch)
        kernel_env = chosen.kernel_env(env, recipe)
        prof.logs_dir.mkdir(parents=True, exist_ok=True)
        import asyncio

        final = asyncio.run(
            _run_here(payload, argv, recipe.language, cwd, prof.logs_dir / "run.log", kernel_env)
        )
    if output is not None:
        _write_notebook(output, final["notebook"])
    if not final.get("ok"):
        _report_failure(final, nb_json)
        return 1
    return 0


def _ensure_consent(paths: Paths, res: Resolution, yes: bool) -> None:
    """Installing what a notebook declares needs the user's say-so (DESIGN.md's baseline)."""
    from jupyter_orbit.trust import TrustStore

    wanted = declared(res) + [f"source option: {s}" for s in res.source_changing]
    if not wanted or yes or TrustStore(paths.trust_file).is_trusted(res.project_root):
        return
    if sys.stdin.isatty() and sys.stderr.isatty():
        click.echo(f"{res.notebook} declares:", err=True)
        for item in wanted:
            click.echo(f"  {item}", err=True)
        if confirm("Install these into a new environment?"):
            return
    raise TrustError(
        f"{res.notebook} is outside a trusted project; not installing what it declares",
        f"re-run with --yes, or trust the project with `orbit trust {res.project_root}`",
    )


async def _run_here(
    payload: dict[str, Any],
    argv: list[str],
    language: str,
    cwd: Path,
    log_path: Path,
    kernel_env: dict[str, str],
) -> dict:
    """Without a server: start a kernel here; its own messages go to the profile's run.log."""
    from jupyter_orbit._imports import skip_unused

    skip_unused()
    from jupyter_orbit.execute import execute, start_kernel

    async def emit(event: dict) -> None:
        _show_event(event)

    with log_path.open("wb") as log:
        km = await start_kernel(
            argv, language, cwd, payload["session"], log=log, extra_env=kernel_env
        )
        try:
            final = await execute(
                payload["notebook"], km=km, cwd=cwd, timeout=payload["timeout"], emit=emit
            )
        finally:
            await km.shutdown_kernel(now=True)
    if final.get("ename") == "DeadKernel":
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        final["evalue"] += " | kernel log: " + " | ".join(tail) if tail else ""
    return final


def _show(events: Any) -> dict | None:
    final = None
    for event in events:
        _show_event(event)
        if event.get("done"):
            final = event
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


def _report_failure(final: dict, nb_json: dict) -> None:
    if final.get("traceback"):
        click.echo("\n".join(final["traceback"]), err=True)
    where = "the notebook"
    if (index := final.get("cell")) is not None:
        source = nb_json["cells"][index].get("source", "")
        first = ("".join(source) if isinstance(source, list) else source).strip().splitlines()
        where = f"cell {index + 1}" + (f" ({first[0][:60]!r})" if first else "")
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(
        f"{where} failed: {final.get('ename', 'Error')}: {final.get('evalue', '')}", err=True
    )


def _write_notebook(path: Path, nb: dict) -> None:
    import nbformat

    from jupyter_orbit import atomic

    atomic.write_text(path, nbformat.writes(nbformat.from_dict(nb)) + "\n")
