"""orbit env: what a notebook's environment is made of, where each part came from, the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from jupyter_orbit.errors import OrbitError
from jupyter_orbit.model import Plan, Resolution


def env_command(
    target: Path,
    *,
    as_json: bool,
    dry_run: bool,
    python: str | None,
    as_of: str | None = None,
    engine: str | None = None,
    profile: str = "default",
) -> None:
    from jupyter_orbit import asof
    from jupyter_orbit.cli._common import use_profile
    from jupyter_orbit.cli._run import _profile_engine
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, prepare

    paths = Paths.from_env()
    use_profile(profile)
    choices = Choices(
        python=python,
        engine=engine,
        default_engine=_profile_engine(paths, profile),
        as_of=as_of,
    )
    plan: Plan | None = None
    problem: OrbitError | None = None
    pins: list[str] | None = None
    try:
        prepared = prepare(target, choices, paths, until="plan")
        plan = prepared.plan
        if dry_run and plan is not None:
            try:
                pins = prepared.engine.pins(plan)
            except OrbitError as err:
                raise asof.explain(err, prepared.resolution) from None
    except OrbitError as err:  # still show what was resolved, and what stands in the way
        problem = err
        prepared = prepare(target, choices, paths, until="resolve")
    res = prepared.resolution
    report = to_report(res, plan, pins, problem)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print(report)


def to_report(
    res: Resolution, plan: Plan | None, pins: list[str] | None, problem: OrbitError | None
) -> dict[str, Any]:
    spec = res.spec
    return {
        "target": str(res.target),
        "notebook": str(res.notebook) if res.notebook else None,
        "project_root": str(res.project_root),
        "project_dir": str(res.project_dir) if res.project_dir else None,
        "env_id": spec.env_id,
        "as_of": spec.as_of,
        "as_of_source": res.as_of_source,
        "as_of_detail": res.as_of_detail,
        "engine": res.engine,
        "built": bool(plan and plan.built),
        "location": plan.location if plan else None,
        "spec": spec.to_dict(),
        "requirements": [
            {
                "ecosystem": r.ecosystem,
                "requirement": r.text,
                "source": str(r.origin) if r.origin else None,
                "level": r.origin.level.value if r.origin else None,
            }
            for r in spec.requirements
        ],
        "sources": [
            {
                "kind": s.kind,
                "path": str(s.path) if s.path else None,
                "level": s.level.value,
                "provides": list(s.provides),
            }
            for s in res.sources
        ],
        "ignored": [{"path": str(i.path), "reason": i.reason} for i in res.ignored],
        "source_changing": list(res.source_changing),
        "notes": list(res.notes),
        "plan": plan.to_dict() if plan else None,
        "pins": pins,
        "problem": problem.to_dict() if problem else None,
    }


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out.width = 200  # piped output: do not fold paths at 80 columns
    root = r["project_root"].rstrip("/") + "/"

    def short(path: str | None) -> str:
        return path[len(root) :] if path and path.startswith(root) else (path or "")

    state = "built" if r["built"] else "not built"
    out.print(f"[bold]{r['notebook'] or r['target']}[/]")
    out.print(
        f"  project   {r['project_root']}"
        + (f"  (files from {r['project_dir']})" if r["project_dir"] else "  (no project files)")
    )
    out.print(f"  env id    {r['env_id']}  [dim]{r['engine']}, {state}[/]")
    if r["location"]:
        out.print(f"  location  {r['location']}")
    spec = r["spec"]
    out.print(f"  kernel    {spec['kernel']}   python {spec['python']}")
    out.print(
        f"  as of     {r['as_of'] or 'no date'}  [dim]({r['as_of_source']}: {r['as_of_detail']})[/]"
    )
    table = Table(
        "ecosystem",
        "requirement",
        "from",
        box=None,
        padding=(0, 2),
        title="requirements",
        title_justify="left",
    )
    for req in r["requirements"]:
        table.add_row(req["ecosystem"], req["requirement"], short(req["source"]))
    out.print(table)
    sources = Table(
        "level",
        "source",
        "provides",
        box=None,
        padding=(0, 2),
        title="sources",
        title_justify="left",
    )
    for s in r["sources"]:
        sources.add_row(s["level"], short(s["path"]) or s["kind"], ", ".join(s["provides"]))
    out.print(sources)
    if r["ignored"]:
        out.print("[bold]ignored[/]")
        for i in r["ignored"]:
            out.print(f"  {short(i['path'])}  [dim]{i['reason']}[/]")
    for s in r["source_changing"]:
        out.print(f"[yellow]source option:[/] {s}")
    for n in r["notes"]:
        out.print(f"[dim]note: {n}[/]")
    if r["plan"]:
        out.print("[bold]plan[/]" + ("  (nothing to do: built)" if r["built"] else ""))
        for step in r["plan"]["steps"]:
            out.print(f"  {step['action']:<10} {step['detail']}")
        for w in r["plan"]["warnings"]:
            out.print(f"  [yellow]warning:[/] {w}")
    if r["pins"] is not None:
        out.print("[bold]would install[/]  " + ", ".join(r["pins"]))
    if r["problem"]:
        out.print(f"[red]problem:[/] {r['problem']['error']}")
        if r["problem"]["hint"]:
            out.print(f"  hint: {r['problem']['hint']}")
