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
    from jupyter_orbit.hardware.fit import Hardware, fit
    from jupyter_orbit.indexes import IndexPolicy
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, prepare
    from jupyter_orbit.settings import cooldown_days

    paths = Paths.from_env()
    use_profile(profile)
    choices = Choices(
        python=python,
        engine=engine,
        default_engine=_profile_engine(paths, profile),
        as_of=as_of,
        hardware=Hardware.of_profile(paths.profile(profile)),
        indexes=IndexPolicy.for_profile(paths, profile),
        cooldown_days=cooldown_days(paths.profile(profile).settings_file),
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
    report["services"] = _services(res, paths)
    # What the notebook declares of the machine, and whether this one has it (also when that
    # is what stopped the plan).
    hardware = prepared.hardware or fit(res, choices.hardware)
    report["hardware"] = (
        hardware.to_dict() if not hardware.needs.empty or hardware.accelerator else None
    )
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
        "python_detail": res.python_detail,
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


def _services(res: Resolution, paths: Any) -> list[dict[str, Any]]:
    """What the kernel runs beside (read from the files; nothing is started)."""
    from jupyter_orbit.beside import find

    try:
        groups = find(res, paths)
    except OrbitError as err:
        return [{"problem": err.to_dict()}]
    return [
        {"name": s.name, "image": s.definition.get("image"), "source": str(g.source)}
        for g in groups
        for s in g.services
    ]


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
    if r["python_detail"]:
        out.print(f"  python    {r['python_detail']}")
    out.print(
        f"  as of     {r['as_of'] or 'no date'}  [dim]({r['as_of_source']}: {r['as_of_detail']})[/]"
    )
    if spec.get("kernel_as_of") and spec["kernel_as_of"] != r["as_of"]:
        floating = ", ".join(spec.get("floating") or []) or "all"
        how = "moved forward" if spec["kernel_as_of"] > (r["as_of"] or "") else "a cool-down back"
        out.print(f"  kernel's  as of {spec['kernel_as_of']}  [dim]({how}: {floating})[/]")
    if spec.get("wheels_only"):
        out.print("  builds    wheels only: nothing is compiled from source")
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
    if r.get("services"):
        out.print("[bold]services[/] beside the kernel")
        for svc in r["services"]:
            if "problem" in svc:
                out.print(f"  [red]problem:[/] {svc['problem']['error']}")
            else:
                out.print(f"  {svc['name']:<12} {svc['image']}  [dim]{short(svc['source'])}[/]")
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
    if r.get("hardware"):
        _print_hardware(out, r["hardware"])
    if r["pins"] is not None:
        out.print("[bold]would install[/]  " + ", ".join(r["pins"]))
    shown = {p["message"] for p in (r.get("hardware") or {}).get("problems", ())}
    if r["problem"] and r["problem"]["error"] not in shown:
        from rich.markup import escape

        out.print(f"[red]problem:[/] {escape(r['problem']['error'])}")
        if r["problem"]["hint"]:
            out.print(f"  hint: {escape(r['problem']['hint'])}")


def _print_hardware(out: Any, hw: dict[str, Any]) -> None:
    from rich.markup import escape

    needs = hw["needs"]
    asked = []
    if gpu := needs.get("gpu"):
        make = {"nvidia": "NVIDIA ", "amd": "AMD ", "intel": "Intel "}.get(gpu["vendor"], "")
        n = gpu["count"]
        asked.append(f"{n} {make}GPU{'s' * (n != 1)}")
    asked += [f"serial {s}" for s in needs.get("serial", ())]
    asked += [f"VISA {v}" for v in needs.get("visa", ())]
    if asked:
        state = "[green]here[/]" if hw["ok"] else "[red]not here[/]"
        out.print(f"[bold]hardware[/]  {escape(', '.join(asked))}: {state}")
        for path in (*hw["gpus"], *hw["serial"]):
            out.print(f"  [green]✓[/] {escape(path)}")
        for p in hw["problems"]:
            out.print(f"  [red]✗[/] {escape(p['message'])}")
            out.print(f"    hint: {escape(p['hint'])}")
        for w in hw["warnings"]:
            out.print(f"  [yellow]warning:[/] {escape(w)}")
    if acc := hw["accelerator"]:
        where = (
            f"  [dim](profile index: {escape(' '.join(acc['index_options']))})[/]"
            if acc["index_options"]
            else ""
        )
        out.print(f"[bold]torch/jax[/]  {acc['variant']}: {escape(acc['reason'])}{where}")
