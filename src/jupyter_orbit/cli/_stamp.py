"""orbit stamp: write (or clear) the date a notebook's packages are resolved as of.

Every notebook is checked before any is written (plan, then act): a notebook that cannot be read
stops the command with nothing changed. Each write is atomic and round-trip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from jupyter_orbit.errors import InputError, OrbitError

# Folders no notebook of the project lives in.
_SKIP = {"node_modules", "__pycache__", "site-packages"}


@dataclass(frozen=True)
class _Change:
    path: Path
    text: str | None  # the new file, or None: nothing to write
    outcome: str
    before: bytes | None = None  # what the new text was computed from
    forget: bool = False  # also forget the date Orbit remembered for it (its own state)


def stamp_command(target: Path, *, date: str | None, clear: bool) -> None:
    from jupyter_orbit import asof, locking
    from jupyter_orbit.notebook_dates import NotebookDates
    from jupyter_orbit.paths import Paths

    if clear and date:
        raise InputError("give a DATE or --clear, not both", "orbit stamp NOTEBOOK [DATE|--clear]")
    target = target.expanduser()
    if not target.exists():
        raise InputError(f"{target}: no such file or folder", "check the path")
    notebooks = [target] if target.is_file() else notebooks_under(target)
    if not notebooks:
        raise InputError(f"no notebooks under {target}", "give a .ipynb file or a folder with some")
    now = asof.utcnow()
    fixed = asof.parse(date, now=now, what="DATE") if date else None
    changes: list[_Change] = []
    failed: list[tuple[Path, OrbitError]] = []
    with locking.locked(*notebooks):  # from the reads to the writes
        for nb in notebooks:
            try:
                changes.append(_plan(nb, fixed, clear=clear, now=now))
            except OrbitError as err:
                failed.append((nb, err))
        if not failed:
            _write(changes)
    if failed:
        if len(notebooks) == 1:
            raise failed[0][1]
        for nb, err in failed:
            click.echo(f"{_shown(nb, target)}: {err.message}", err=True)
        raise InputError(
            f"{len(failed)} of {len(notebooks)} notebooks cannot be stamped; nothing was written",
            failed[0][1].hint or "fix them, or stamp the others one by one",
        )
    dates = NotebookDates(Paths.from_env().notebook_dates_dir)
    for change in changes:
        outcome = change.outcome
        if change.forget and dates.forget(change.path):
            outcome += "; forgot the date Orbit remembered for it"
        click.echo(f"{_shown(change.path, target)}  {outcome}")


def _write(changes: list[_Change]) -> None:
    """Write every stamp, refusing all if any notebook was saved by another program since it
    was read (``locking.FileChanged``)."""
    from jupyter_orbit import locking

    todo = [c for c in changes if c.text is not None]
    for change in todo:
        locking.check_unchanged(change.path, change.before)
    for change in todo:
        assert change.text is not None
        locking.replace(change.path, change.before, change.text.encode("utf-8"))


def notebooks_under(folder: Path) -> list[Path]:
    """Every ``.ipynb`` under ``folder``, skipping hidden folders (checkpoints, .git, venvs)."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP)
        found += [Path(here) / f for f in sorted(files) if f.endswith(".ipynb")]
    return found


def _shown(path: Path, target: Path) -> str:
    return str(path) if path == target else str(path.relative_to(target))


def _plan(nb: Path, fixed: str | None, *, clear: bool, now: datetime) -> _Change:
    from jupyter_orbit import asof, untrusted
    from jupyter_orbit.manifests.notebook_edit import edited_text
    from jupyter_orbit.manifests.stamp import set_stamp

    seen = untrusted.read_bytes(nb, limit=untrusted.MAX_NOTEBOOK_BYTES)  # a regular file

    def write(as_of: str | None) -> str | None:
        return edited_text(nb, lambda data: set_stamp(data, nb, as_of))

    if clear:
        text = write(None)
        return _Change(
            nb,
            text,
            "cleared" if text is not None else "no stamp to clear",
            forget=True,
            before=seen,
        )
    if fixed is not None:
        text = write(fixed)
        outcome = f"stamped {fixed}" if text is not None else f"already {fixed}"
        return _Change(nb, text, outcome, seen)
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, prepare

    res = prepare(nb, Choices(), Paths.from_env(), until="resolve").resolution
    if res.spec.as_of is None:
        return _Change(nb, None, f"not stamped: {asof.describe(res)}")
    text = write(res.spec.as_of)
    if text is None:
        return _Change(nb, None, f"already {res.spec.as_of}")
    return _Change(nb, text, f"stamped {asof.describe(res)}", seen)
