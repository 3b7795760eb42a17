"""The notebook's stamp: the date its packages are resolved as of, written into the notebook.

The stamp is ``metadata.orbit.as_of``; when the first code cell has a juv-style PEP 723 block,
its ``[tool.uv] exclude-newer`` is kept equal to it, so juv and ``uv run`` resolve the same.
These functions change a parsed notebook in place; ``notebook_edit`` writes it back round-trip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Null, Whitespace

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.notebook_edit import edit_pep723, orbit_metadata


def stamp_of(nb: dict[str, Any]) -> str | None:
    """``metadata.orbit.as_of`` as written, if any."""
    meta = nb.get("metadata")
    orbit = meta.get("orbit") if isinstance(meta, dict) else None
    value = orbit.get("as_of") if isinstance(orbit, dict) else None
    return value if isinstance(value, str) else None


def set_stamp(nb: dict[str, Any], path: Path, as_of: str | None) -> None:
    """Write ``as_of`` (a canonical date) as the stamp, or remove the stamp when it is None."""
    if as_of is None:
        meta = nb.get("metadata")
        orbit = meta.get("orbit") if isinstance(meta, dict) else None
        if isinstance(orbit, dict) and "as_of" in orbit:
            del orbit["as_of"]
            if set(orbit) <= {"schema"}:  # only there for the stamp
                del meta["orbit"]
        edit_pep723(nb, path, _clear_exclude_newer)
        return
    orbit_metadata(nb)["as_of"] = as_of
    edit_pep723(nb, path, lambda doc: _set_exclude_newer(doc, as_of, path))


def _set_exclude_newer(doc: tomlkit.TOMLDocument, as_of: str, path: Path) -> None:
    tool = doc.get("tool")
    if tool is None:
        tool = doc["tool"] = tomlkit.table(is_super_table=True)
    uv = tool.get("uv") if isinstance(tool, dict) else None
    if isinstance(tool, dict) and uv is None:
        uv = tool["uv"] = tomlkit.table()
    if not isinstance(uv, dict):
        raise InputError(
            f"the PEP 723 block of {path.name} has a [tool] or [tool.uv] that is not a table",
            "fix the block in the first code cell, then stamp again",
            path=path,
        )
    uv["exclude-newer"] = as_of


def _clear_exclude_newer(doc: tomlkit.TOMLDocument) -> None:
    tool = doc.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    if not isinstance(uv, dict) or "exclude-newer" not in uv:
        return
    del uv["exclude-newer"]
    if not uv:
        del tool["uv"]
        if not tool:
            del doc["tool"]
            # Adding the table added a blank line before it; take it away again.
            while doc.body and isinstance(doc.body[-1][1], Whitespace | Null):
                doc.body.pop()
