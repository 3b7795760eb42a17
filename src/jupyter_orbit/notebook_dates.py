"""The as-of dates Orbit remembers for notebooks, in its own state: never in the notebook.

A date detected from git or from "now" holds only while nothing changes: an edit makes git call
the notebook uncommitted, and tomorrow is another day. So when the server has prepared a kernel
for a notebook whose date was detected, it remembers that date here, keyed by the notebook's
real path, and the next resolution of the same notebook (in the server, ``orbit run``,
``orbit env``) uses it instead of detecting again (``jupyter_orbit.asof``: source
``remembered``). The notebook on disk is not touched; ``orbit stamp`` writes a date into it
when the user asks.

One small JSON file per notebook, named by a hash of its real path, each written atomically: two
servers remembering two notebooks never write the same file, and a reader never sees half a one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit import atomic
from jupyter_orbit.asof import DETECTED

if TYPE_CHECKING:
    from jupyter_orbit.model import Resolution

_DATE = 20  # len("2017-05-01T00:00:00Z")


@dataclass(frozen=True)
class Remembered:
    """A date remembered for one notebook, and how it was found the first time."""

    notebook: str  # the real path
    as_of: str  # canonical (jupyter_orbit.asof)
    source: str  # where it was detected: git or now
    detail: str  # that source in words (the commit, the reason for "now")
    recorded: str  # when Orbit remembered it (UTC, ISO 8601)


class NotebookDates:
    """The remembered dates under one folder of Orbit's data root."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def file(self, notebook: Path) -> Path:
        real = str(notebook.resolve())
        return self.folder / (hashlib.sha256(real.encode()).hexdigest()[:32] + ".json")

    def get(self, notebook: Path) -> Remembered | None:
        """The date remembered for ``notebook`` (by its real path), if any and well-formed."""
        real = str(notebook.resolve())
        try:
            data = json.loads(self.file(notebook).read_text(encoding="utf-8"))
            found = Remembered(**{k: str(data[k]) for k in Remembered.__dataclass_fields__})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if found.notebook != real or len(found.as_of) != _DATE or not found.as_of.endswith("Z"):
            return None
        return found

    def put(self, notebook: Path, as_of: str, source: str, detail: str) -> bool:
        """Remember ``as_of`` for ``notebook``; False when it was remembered already."""
        current = self.get(notebook)
        if current is not None and current.as_of == as_of:
            return False
        entry = Remembered(
            str(notebook.resolve()),
            as_of,
            source,
            detail,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        atomic.write_json(self.file(notebook), asdict(entry), mode=0o600)
        return True

    def forget(self, notebook: Path) -> bool:
        """Forget ``notebook``'s date; False when none was remembered."""
        try:
            self.file(notebook).unlink()
        except FileNotFoundError:
            return False
        return True

    def remember(self, res: Resolution) -> bool:
        """Remember ``res``'s date when it was detected (git, now) for a notebook: what a
        server that prepared its kernel keeps, so the notebook keeps its environment."""
        if res.notebook is None or res.spec.as_of is None or res.as_of_source not in DETECTED:
            return False
        return self.put(res.notebook, res.spec.as_of, res.as_of_source, res.as_of_detail)

    def recall(self, res: Resolution) -> Remembered | None:
        """What ``asof.settle`` asks: the date remembered for ``res``'s notebook."""
        if res.notebook is None:
            return None
        with contextlib.suppress(OSError):
            return self.get(res.notebook)
        return None
