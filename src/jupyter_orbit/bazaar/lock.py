"""``orbit lock NOTEBOOK``: the notebook's full resolution, stored in the notebook.

The notebook's declared packages are written into ``metadata.orbit`` (so it no longer needs
its project's files), its Python version is fixed, and ``metadata.orbit.lock`` gets the exact
PyPI versions with their hashes (a universal resolution: one lock for every platform) plus,
under ``ecosystems``, the locks of its npm, conda and apt packages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_orbit.ecosystems import ecosystem_class, get_ecosystem, in_order, lockfile
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import Resolution
from jupyter_orbit.paths import Paths


def declared(res: Resolution, eco: str) -> list[str]:
    return [r.text for r in res.spec.declared(eco)]


def lock_notebook(
    paths: Paths,
    notebook: Path,
    *,
    environ: Mapping[str, str] | None = None,
    keep: Sequence[str] = (),
) -> dict[str, Any]:
    """Lock ``notebook``; ``keep`` are versions to stay on where the spec allows (the old
    lock's, when renewing one after an add).

    The notebook is held (``locking``) from the read its lock is computed from to the write,
    and the write is refused if another program saved the notebook meanwhile.
    """
    from jupyter_orbit import locking

    notebook = notebook.expanduser().resolve()
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise InputError(f"{notebook} is not a notebook", "give the path of a .ipynb file")
    with locking.locked(notebook):
        return _lock(paths, notebook, environ, keep, locking.read(notebook))


def _lock(
    paths: Paths,
    notebook: Path,
    environ: Mapping[str, str] | None,
    keep: Sequence[str],
    seen: bytes | None,
) -> dict[str, Any]:
    from jupyter_orbit import indexes
    from jupyter_orbit.ecosystems.pypi import PyPI, split_options
    from jupyter_orbit.manifests.notebook_edit import orbit_metadata, update_notebook
    from jupyter_orbit.prepare import Choices, prepare
    from jupyter_orbit.pythons import default_python
    from jupyter_orbit.uvcli import find_python

    res = prepare(notebook, Choices(), paths, until="resolve").resolution
    indexes.check(res, None, paths, environ)  # uv resolves with its index options
    work = paths.cache_dir / "bazaar" / "lock"
    work.mkdir(parents=True, exist_ok=True)
    interpreter = find_python(res.spec.python or default_python(), cwd=work)
    python = res.spec.python or _minor(interpreter)
    spec = dataclasses.replace(res.spec, python=python, lock=None)
    flags, lines = split_options(spec.index_options)
    pypi = PyPI(paths, environ)

    def compile_(prefer: Sequence[str]) -> str:
        return pypi.compile(
            lines + [r.text for r in spec.packages("pypi")],
            python=_minor(interpreter),
            cwd=work,
            constraints=[*(c.text for c in spec.constraints), *prefer],
            flags=flags,
            hashes=True,
            universal=True,
            extra=pypi.date_args(spec, str(interpreter), flags, lines),
        )

    try:
        try:
            text = compile_(keep)
        except BuildError:
            if not keep:
                raise
            text = compile_(())  # the old versions do not fit the new packages: re-resolve
    except BuildError as e:
        raise InputError(f"cannot lock {notebook.name}: {e.message}", e.hint) from None
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lock: dict[str, Any] = {
        "format": "requirements",
        "text": lockfile.header(spec, python, created) + text,
    }
    others = {}
    for eco in in_order(spec.ecosystems):
        if ecosystem_class(eco).spec_options:
            continue  # the lock above (its format is the spec's own lock)
        if reqs := spec.declared(eco):
            others[eco] = get_ecosystem(eco, paths, environ).lock(reqs, cwd=work)
    if others:
        lock["ecosystems"] = others

    def change(nb: dict[str, Any]) -> None:
        orbit = orbit_metadata(nb)
        packages = orbit.setdefault("packages", {})
        for eco in res.spec.ecosystems:
            if eco not in packages and (items := declared(res, eco)):
                packages[eco] = items
        orbit.setdefault("python", python)
        orbit["lock"] = lock

    update_notebook(notebook, change, expect=seen)
    after = prepare(notebook, Choices(), paths, until="resolve").resolution
    if not lockfile.is_current(after.spec):  # the lock must describe what the notebook now says
        raise BuildError(
            f"the lock written to {notebook.name} does not match its spec",
            "this is a bug in Orbit; please report it",
        )
    return {
        "notebook": str(notebook),
        "python": python,
        "pins": lockfile.pins(lock["text"]),
        "ecosystems": sorted(["pypi", *others]),
        "env_id": after.spec.env_id,
    }


def _minor(interpreter: Path) -> str:
    import subprocess

    out = subprocess.run(
        [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
