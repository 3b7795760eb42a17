"""orbit envs / orbit gc: what Orbit keeps on disk, and reclaiming what nothing uses."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("envs")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def envs_command(as_json: bool) -> None:
    """Environments, server environments, kernel images and build leftovers: size, what
    removing each frees, last use and the notebooks that use it."""
    from jupyter_orbit.diskuse import human, inventory
    from jupyter_orbit.paths import Paths

    entries, notes = inventory(Paths.from_env())
    if as_json:
        click.echo(json.dumps({"items": [e.to_dict() for e in entries], "notes": notes}, indent=2))
        return
    if not entries:
        click.echo("nothing kept yet")
    for e in sorted(entries, key=lambda e: (e.kind, e.last_used or e.stored.created or "")):
        used = (e.last_used or "")[:10] or "never"
        click.echo(
            f"{e.kind:<19} {e.stored.env_id[:20]:<20} {human(e.stored.size):>9}"
            f"  frees {human(e.stored.frees):>9}  last used {used}"
        )
        if e.notebooks:
            shown = ", ".join(Path(n).name for n in e.notebooks[:3])
            more = f" and {len(e.notebooks) - 3} more" if len(e.notebooks) > 3 else ""
            click.echo(f"{'':<20}used by {shown}{more}")
        if e.kept:
            click.echo(f"{'':<20}in use: {e.kept}")
    if entries:
        total = sum(e.stored.size for e in entries)
        frees = sum(e.stored.frees for e in entries if not e.kept)
        click.echo(f"{len(entries)} kept, {human(total)}; `orbit gc` may free up to {human(frees)}")
    for note in notes:
        click.echo(f"note: {note}", err=True)


@click.command("gc")
@click.option(
    "--older-than",
    "older_than",
    default="30d",
    show_default=True,
    metavar="AGE",
    help="Remove what has not been used for AGE (30d, 2w, 12h, or 0 for any age).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def gc_command(older_than: str, dry_run: bool, as_json: bool) -> None:
    """Remove environments, server environments and images nothing uses, and build leftovers.

    Never what a running kernel or server uses, nor a profile's current server environment."""
    from jupyter_orbit.diskuse import collect, human, parse_age
    from jupyter_orbit.paths import Paths

    done = collect(Paths.from_env(), parse_age(older_than), dry_run=dry_run)
    if as_json:
        items = [{**r.entry.to_dict(), "error": r.error} for r in done]
        click.echo(json.dumps({"dry_run": dry_run, "removed": items}, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    for r in done:
        what = f"{r.entry.kind} {r.entry.stored.env_id} ({human(r.entry.stored.frees)})"
        if r.error:
            click.echo(f"kept {what}: {r.error}", err=True)
        else:
            click.echo(f"{verb} {what}")
    freed = sum(r.entry.stored.frees for r in done if r.error is None)
    click.echo(f"{verb} {sum(r.error is None for r in done)}, freeing {human(freed)}")
