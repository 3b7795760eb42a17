"""orbit data add|list|fetch: the data sets a notebook declares (``metadata.orbit.data``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jupyter_orbit.cli._options import quiet_option

_path = click.Path(path_type=Path)


def _store():
    from jupyter_orbit.data.store import DataStore
    from jupyter_orbit.paths import Paths

    return DataStore(Paths.from_env().datasets_dir)


@click.group("data")
def data_group() -> None:
    """Data sets: declared in a notebook, fetched and verified once, shared between projects."""


@data_group.command("add")
@click.argument("source", metavar="URL|FILE")
@click.option("--to", "notebook", type=_path, help="Write the entry into this notebook.")
@click.option("--name", help="The name the kernel sees (default: the file's own name).")
@click.option("--unpack", type=click.Choice(["zip", "tar"]), help="Place the archive's contents.")
@quiet_option
def add_command(
    source: str, notebook: Path | None, name: str | None, unpack: str | None, quiet: bool
) -> None:
    """Fetch URL (or copy FILE) into the data store, and record it in a notebook (--to).

    Without --to nothing is written but the store: the entry is printed, to paste or to add
    later.
    """
    from urllib.parse import unquote, urlsplit

    from jupyter_orbit.cli._common import progress
    from jupyter_orbit.data.spec import DataSet, check_name, check_url
    from jupyter_orbit.errors import InputError

    is_url = "://" in source
    if is_url:
        check_url(source)
        default = Path(unquote(urlsplit(source).path)).name
    else:
        default = Path(source).name
    name = check_name(name or default or "data")
    if notebook is not None and not notebook.is_file():
        raise InputError(f"{notebook}: no such notebook", "give the .ipynb file to write into")
    store = _store()
    with progress(quiet, "fetching") as p:
        if is_url:
            _, digest = store.add_url(source, name=name, progress=p)
        else:
            _, digest = store.add_file(Path(source))
    entry = DataSet(name, digest, source if is_url else None, unpack)
    if unpack:
        store.fetch(entry)  # unpacks now, so a wrong format fails here, not in a kernel
    if notebook is None:
        click.echo(json.dumps(entry.to_dict(), indent=1))
        click.echo(f"stored {name} ({digest[:12]}…); nothing written (use --to NOTEBOOK)", err=True)
        return
    changed = _write_entry(notebook, entry)
    verb = "wrote" if changed else "already had"
    click.echo(f"{verb} data set {name} (sha256 {digest[:12]}…) in {notebook}: metadata.orbit.data")
    if not is_url:
        click.echo(
            "  no URL recorded: on another machine it comes from a bundle, or `orbit data add` "
            "the file there too",
            err=True,
        )


def _write_entry(notebook: Path, entry) -> bool:  # noqa: ANN001
    from jupyter_orbit.data.spec import read_entries, with_entry
    from jupyter_orbit.manifests.notebook_edit import orbit_metadata, update_notebook

    def change(nb: dict) -> None:
        entries = with_entry(read_entries(nb, path=notebook), entry)
        orbit_metadata(nb)["data"] = [e.to_dict() for e in entries]

    # locked from the read to the write (the lock lives in Orbit's cache, not the project)
    return update_notebook(notebook, change)


@data_group.command("list")
@click.argument("notebook", type=_path, required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(notebook: Path | None, as_json: bool) -> None:
    """The data sets NOTEBOOK declares and whether each is stored here (no NOTEBOOK: the
    store's contents)."""
    store = _store()
    if notebook is None:
        rows = [{"sha256": sha, "size": size} for sha, size in store.stored()]
        if as_json:
            click.echo(json.dumps(rows, indent=1))
            return
        for r in rows:
            click.echo(f"{r['sha256']}  {r['size']:>12} bytes")
        if not rows:
            click.echo(f"no data sets stored in {store.root}")
        return
    from jupyter_orbit.data.spec import read_notebook

    entries = read_notebook(notebook)
    rows = [{**e.to_dict(), "stored": store.has(e)} for e in entries]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        state = "stored" if r["stored"] else "not fetched"
        click.echo(f"{r['name']:<24} {state:<12} {r.get('url') or '(no URL)'}")
    if not rows:
        click.echo(f"{notebook} declares no data sets")


@data_group.command("fetch")
@click.argument("notebook", type=_path)
@quiet_option
def fetch_command(notebook: Path, quiet: bool) -> None:
    """Fetch and verify every data set NOTEBOOK declares into the data store."""
    from jupyter_orbit.cli._common import progress
    from jupyter_orbit.data.spec import read_notebook

    store = _store()
    entries = read_notebook(notebook)
    with progress(quiet, "fetching data") as p:
        for e in entries:
            was = store.has(e)
            store.fetch(e, progress=p)
            click.echo(f"{e.name}: {'already stored' if was else 'fetched and verified'}")
    if not entries:
        click.echo(f"{notebook} declares no data sets")
