"""orbit search / add / remove / lock / export: the bazaar's commands.

``add`` and ``remove`` go through the profile's server when one is running with the target
inside its folder, so running kernels get the change at once (hot add); otherwise they edit
the files here and the next kernel start (or ``orbit run``) installs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from jupyter_orbit.cli._options import profile_option as _profile_option

_path = click.Path(exists=False, path_type=Path)


@click.command()
@click.argument("query")
@click.option(
    "--in", "where", metavar="ECO[,ECO]", help="Ecosystems to search (pypi,npm,apt,conda,compose)."
)
@click.option("--for", "notebook", type=_path, help="Search what this notebook's kernel can use.")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def search(query: str, where: str | None, notebook: Path | None, limit: int, as_json: bool) -> None:
    """Search package registries for QUERY, merged and ranked."""
    from jupyter_orbit.bazaar.search import search as run_search
    from jupyter_orbit.paths import Paths

    ecosystems = [e.strip() for e in where.split(",") if e.strip()] if where else None
    result = run_search(
        Paths.from_env(), query, ecosystems=ecosystems, notebook=notebook, limit=limit
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_search(result)
    if not result["results"] and result["errors"]:
        raise SystemExit(1)  # no registry answered


def _print_search(r: dict[str, Any]) -> None:
    """A plain table (rich costs a quarter second to import: a search should not wait)."""
    import shutil

    rows = [
        (h["ecosystem"], h["name"], h["version"] or "", " ".join((h["summary"] or "").split()))
        for h in r["results"]
    ]
    if rows:
        head = ("ecosystem", "name", "version", "summary")
        widths = [max(len(x[i]) for x in [head, *rows]) for i in range(3)]
        total = shutil.get_terminal_size((200, 20)).columns if sys.stdout.isatty() else 200
        room = max(20, total - sum(widths) - 6)
        for cells in [head, *rows]:
            line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
            summary = cells[3] if len(cells[3]) <= room else cells[3][: room - 1] + "…"
            click.echo(f"{line}  {summary}".rstrip())
    else:
        click.echo(f"no packages match {r['query']!r} in {', '.join(r['ecosystems'])}")
    if r["stale"]:
        click.echo("stale: some results come from an out-of-date cache", err=True)
    for note in r["notes"]:
        click.echo(f"note: {note}", err=True)
    for eco, message in r["errors"].items():
        click.echo(f"{eco}: {message}", err=True)


def _edit_options(f):  # noqa: ANN001
    for option in reversed(
        [
            click.option(
                "--to",
                "target",
                type=_path,
                default=Path(),
                help="Notebook or project folder (default: here).",
            ),
            click.option(
                "--in", "ecosystem", metavar="ECO", help="pypi, npm, apt, conda or compose."
            ),
            click.option("--file", type=_path, help="Edit this file instead of the chosen one."),
            click.option(
                "--to-notebook",
                is_flag=True,
                help="Write into the notebook given with --to even when it reads its packages "
                "from project files (it then stops reading them).",
            ),
            click.option("--dry-run", is_flag=True, help="Show the diff; change nothing."),
            click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
            click.option("--no-server", is_flag=True, help="Edit here even if a server runs."),
            _profile_option,
        ]
    ):
        f = option(f)
    return f


@click.command()
@click.argument("packages", nargs=-1, required=True)
@_edit_options
def add(packages: tuple[str, ...], **options: Any) -> None:
    """Add PACKAGES to a notebook or project: edit its files, check, and install into running
    kernels. Write ECO:NAME (npm:lodash@^4) to pick the ecosystem per package."""
    _edit("add", packages, **options)


@click.command()
@click.argument("packages", nargs=-1, required=True)
@_edit_options
@click.option(
    "--volumes", is_flag=True, help="Services (--in compose): delete their data volumes too."
)
def remove(packages: tuple[str, ...], **options: Any) -> None:
    """Remove PACKAGES from a notebook or project's files (services: their containers too)."""
    _edit("remove", packages, **options)


def _edit(
    action: str,
    packages: tuple[str, ...],
    *,
    target: Path,
    ecosystem: str | None,
    file: Path | None,
    dry_run: bool,
    as_json: bool,
    no_server: bool,
    profile: str,
    to_notebook: bool = False,
    volumes: bool = False,
) -> None:
    from jupyter_orbit.paths import Paths

    paths = Paths.from_env()
    target = target.expanduser().resolve()
    file = file.expanduser().resolve() if file else None
    report = (
        None
        if no_server or volumes  # deleting data volumes is done here, by this command
        else _through_server(
            paths, profile, action, packages, target, ecosystem, file, dry_run, to_notebook
        )
    )
    if report is None:
        from jupyter_orbit.bazaar import edit
        from jupyter_orbit.indexes import IndexPolicy

        change = edit.run(
            paths,
            target,
            packages,
            action=action,
            ecosystem=ecosystem,
            file=file,
            dry_run=dry_run,
            to_notebook=to_notebook,
            volumes=volumes,
            indexes=IndexPolicy.for_profile(paths, profile),
        )
        report = {**change.to_dict(), "pins": change.pins, "kernels": []}
        if dry_run:
            report["diff"] = edit.diff(change)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _print_edit(report, dry_run)


def _through_server(
    paths: Any,
    profile: str,
    action: str,
    packages: tuple[str, ...],
    target: Path,
    ecosystem: str | None,
    file: Path | None,
    dry_run: bool,
    to_notebook: bool = False,
) -> dict[str, Any] | None:
    """Send the edit to the profile's running server, when the target is inside its folder."""
    from jupyter_orbit.errors import InputError, OrbitError
    from jupyter_orbit.state import running

    state = running(paths.profile(profile), check_http=False)
    if state is None or not target.is_relative_to(Path(state.root_dir)):
        return None
    client = state.client(timeout=900)
    body = {
        "action": action,
        "target": str(target),
        "packages": list(packages),
        "ecosystem": ecosystem,
        "file": str(file) if file else None,
        "dry_run": dry_run,
        "to_notebook": to_notebook,
    }
    resp = client._request("POST", "/orbit/api/packages", body)
    raw = resp.read()
    resp.close()
    if resp.status in (400, 422):
        err = json.loads(raw)
        cls = InputError if resp.status == 400 else OrbitError
        raise cls(err["error"], err.get("hint"), path=err.get("path"), line=err.get("line"))
    if resp.status >= 300:
        return client._json(_Replay(resp.status, raw), "/orbit/api/packages")  # raises
    return json.loads(raw)


class _Replay:
    """A response already read, for ``ServerClient._json``'s error message."""

    def __init__(self, status: int, raw: bytes) -> None:
        self.status, self._raw = status, raw

    def read(self) -> bytes:
        return self._raw

    def close(self) -> None:
        pass


def _print_edit(r: dict[str, Any], dry_run: bool) -> None:
    verb = {"add": "added", "remove": "removed"}[r["action"]]
    where = ", ".join(r["files"]) or "nothing (already so)"
    if dry_run:
        click.echo(r.get("diff") or "no change", nl=False)
        click.echo(f"would have {verb} {', '.join(r['packages'])} ({r['ecosystem']})", err=True)
        return
    click.echo(f"{verb} {', '.join(r['packages'])} ({r['ecosystem']}) in {where}")
    if r["pins"] and r["action"] == "add":
        names = set(r["names"])
        shown = [p for p in r["pins"] if p.split("==")[0].strip().lower() in names]
        click.echo(f"  resolves to {', '.join(shown)}")
    for k in r["kernels"]:
        if k.get("hot"):
            click.echo(
                f"  kernel {k['kernel'][:8]}: ready now, no restart needed "
                f"(environment {k['from'][:8]} → {k['to'][:8]})"
            )
        else:
            hint = f"; {k['hint']}" if k.get("hint") else ""
            click.echo(f"  kernel {k['kernel'][:8]}: {k.get('detail')}{hint}")
    for note in r["notes"]:
        click.echo(f"  note: {note}", err=True)


@click.command()
@click.argument("notebook", type=_path)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lock(notebook: Path, as_json: bool) -> None:
    """Store NOTEBOOK's full resolution (versions and hashes) in the notebook itself."""
    from jupyter_orbit.bazaar.lock import lock_notebook
    from jupyter_orbit.paths import Paths

    result = lock_notebook(Paths.from_env(), notebook)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"locked {notebook}: {len(result['pins'])} PyPI packages for Python {result['python']}"
        + (
            f", plus {', '.join(e for e in result['ecosystems'] if e != 'pypi')}"
            if len(result["ecosystems"]) > 1
            else ""
        )
    )
    click.echo(f"  environment {result['env_id']}; `orbit run --locked` installs exactly this")


@click.command(name="export")
@click.argument("target", type=_path)
@click.option(
    "--to",
    "fmt",
    required=True,
    type=click.Choice(["requirements", "pyproject", "environment", "pep723", "binder", "compose"]),
    help="The format to write.",
)
@click.argument("dest", type=_path)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def export(target: Path, fmt: str, dest: Path, force: bool) -> None:
    """Write TARGET's environment (a notebook or folder) as standard files into DEST."""
    from jupyter_orbit.bazaar.export import export as run_export
    from jupyter_orbit.paths import Paths

    written = run_export(Paths.from_env(), target, fmt, dest, force=force)
    for path in written:
        click.echo(f"wrote {path}")


def register(group: click.Group) -> None:
    for command in (search, add, remove, lock, export):
        group.add_command(command)
