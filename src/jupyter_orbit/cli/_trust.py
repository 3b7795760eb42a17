from __future__ import annotations

from pathlib import Path

import click

from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths
from jupyter_orbit.trust import TrustStore


def trust_command(path: Path | None, *, revoke: bool) -> None:
    store = TrustStore(Paths.from_env().trust_file)
    if path is None:
        for folder, since in sorted(store.trusted().items()):
            problem = store.why_not(Path(folder))
            click.echo(f"{folder}\t(since {since})" + (f"\t[{problem}]" if problem else ""))
        return
    if not path.is_dir():
        raise InputError(
            f"{path}: not a folder", "trust the project folder that holds the notebook"
        )
    if revoke:
        changed = store.revoke(path)
        click.echo(f"{'no longer trusted' if changed else 'was not trusted'}: {path.resolve()}")
    else:
        changed = store.trust(path, refresh=True)
        click.echo(f"{'trusted' if changed else 'already trusted'}: {path.resolve()}")
        if repos := store.repos(path):
            click.echo(f"  with the repositories in it now: {', '.join(sorted(repos))}")
