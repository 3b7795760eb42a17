"""orbit hardware: what this machine has (GPUs, serial ports, instruments, cameras) and what each
needs before a notebook can use it."""

from __future__ import annotations

import json

import click

_KINDS = {"gpu": "GPUs", "serial": "serial ports", "visa": "VISA instruments", "camera": "cameras"}


@click.command("hardware")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--visa-backend",
    metavar="BACKEND",
    envvar="ORBIT_VISA_BACKEND",
    default="",
    help="PyVISA backend to list instruments with: @py (pyvisa-py), FILE.yaml@sim, or empty for "
    "PyVISA's default (ORBIT_VISA_BACKEND).",
)
def hardware_command(as_json: bool, visa_backend: str) -> None:
    """GPUs, serial ports, VISA instruments and cameras here, with what each needs."""
    from jupyter_orbit.hardware.detect import detect, pyvisa_resources

    found = detect(visa=pyvisa_resources(visa_backend))
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2))
        return
    _print(found)


def _print(found) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.markup import escape

    out = Console(highlight=False, soft_wrap=True)
    for kind, title in _KINDS.items():
        devices = found.of_kind(kind)
        out.print(f"[bold]{title}[/]" + ("" if devices else ": [dim]none[/]"))
        for d in devices:
            facts = ", ".join(f"{k} {v}" for k, v in d.details.items() if k not in ("source",))
            mark = "[green]✓[/]" if d.usable else "[yellow]![/]"
            out.print(f"  {mark} {escape(d.path)}  {escape(d.name)}  [dim]{escape(facts)}[/]")
            for n in d.needs:
                if not n.met:
                    out.print(f"      needs {escape(n.what)}")
                    out.print(f"      [cyan]fix:[/] {escape(n.fix)}")
    c = found.containers
    if found.gpus("nvidia") or c.nvidia_toolkit or c.cdi_devices:
        out.print("[bold]containers[/]")
        out.print(f"  NVIDIA Container Toolkit: {c.nvidia_toolkit or '[dim]not installed[/]'}")
        out.print(f"  CDI devices: {', '.join(c.cdi_devices) or '[dim]none[/]'}")
    if found.cuda_version:
        out.print(f"CUDA (driver): {found.cuda_version}")
    for note in found.notes:
        out.print(f"[dim]note: {escape(note)}[/]")
