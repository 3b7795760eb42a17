"""Which folders the user trusts to declare what gets installed.

Nothing a project declares is installed, and no option that changes where packages come from is
honoured, until the user has trusted the project: by giving its folder to ``orbit up``, with
``orbit trust``, or with ``--yes`` for one command. The record is one JSON file under ORBIT_HOME.

Trust is specific to what the user looked at:

- **The folder itself**, by identity: its device and inode are recorded, so a folder deleted and
  replaced at the same path (a fresh clone of something else) is no longer trusted.
- **Its subfolders, but not other projects that appear in it later.** A git repository below
  the trusted folder (a folder holding ``.git``: a clone, a submodule, a worktree) is another
  project; the ones present when the folder was trusted are recorded (a bounded walk) and stay
  trusted while their ``.git`` is the same, and any other one needs its own ``orbit trust``.
  So trusting ``~/work`` does not trust what is cloned into ``~/work`` next week.

Records made before identities were kept (a bare timestamp) still trust their folder and its
subfolders, minus nested repositories; trusting the folder again records its identity.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from jupyter_orbit import atomic

UNTRUSTED = "not trusted"  # why_not's answer when no trusted folder covers a path at all
# The walk that records the repositories inside a trusted folder stops here.
MAX_WALK_DIRS = 5000
MAX_WALK_DEPTH = 6
_SKIP = {"node_modules", "__pycache__", "site-packages", ".venv", "venv", ".tox", ".git"}


def _identity(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_dev, st.st_ino]


def nested_repos(folder: Path) -> dict[str, list[int] | None]:
    """Repositories below ``folder`` (relative path -> identity of their ``.git``), found by a
    bounded walk; ``folder``'s own ``.git`` is not one of them."""
    out: dict[str, list[int] | None] = {}
    seen = 0
    for here, dirs, _files in os.walk(folder):
        rel = Path(here).relative_to(folder)
        depth = len(rel.parts)
        if depth and os.path.lexists(Path(here) / ".git"):
            out[rel.as_posix()] = _identity(Path(here) / ".git")
        seen += 1
        if seen >= MAX_WALK_DIRS or depth >= MAX_WALK_DEPTH:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
    return out


class TrustStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _records(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            # A damaged record trusts nothing; it is rewritten on the next `orbit trust`.
            return {}
        trusted = data.get("trusted", {}) if isinstance(data, dict) else {}
        out = {}
        for folder, value in trusted.items():
            out[str(folder)] = value if isinstance(value, dict) else {"since": str(value)}
        return out

    def trusted(self) -> dict[str, str]:
        """Trusted folders and since when."""
        return {k: str(v.get("since", "")) for k, v in self._records().items()}

    def is_trusted(self, path: Path) -> bool:
        """True when ``path`` or one of its parents is trusted and still is what was trusted
        (see ``why_not``)."""
        return self.why_not(path) is None

    def why_not(self, path: Path) -> str | None:
        """Why ``path`` is not trusted (None: it is)."""
        path = path.resolve()
        records = self._records()
        for folder in (path, *path.parents):
            record = records.get(str(folder))
            if record is None:
                continue
            if (ident := record.get("identity")) and _identity(folder) != ident:
                return (
                    f"{folder} was trusted, but the folder there now is another one (deleted "
                    "and made again, or cloned anew)"
                )
            known = record.get("repos", {})
            below = path.relative_to(folder)
            for n in range(1, len(below.parts) + 1):
                rel = Path(*below.parts[:n]).as_posix()
                git = folder / rel / ".git"
                if not os.path.lexists(git):
                    continue
                if rel not in known or (known[rel] and _identity(git) != known[rel]):
                    return (
                        f"{folder / rel} is a repository inside the trusted folder {folder} that "
                        "was not there when you trusted it (cloned since?): it is a project of "
                        "its own"
                    )
            return None
        return UNTRUSTED

    def trust(self, folder: Path, *, refresh: bool = False) -> bool:
        """Record ``folder`` as trusted, as it is now; False if it already was (unchanged).

        A folder trusted before keeps its record (``orbit up PATH`` does not widen it to what
        was cloned since) unless ``refresh`` (``orbit trust PATH``, the user's explicit word)."""
        folder = folder.resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "identity": _identity(folder),
            "repos": nested_repos(folder),
        }
        with FileLock(str(self.path) + ".lock"):
            records = self._records()
            old = records.get(str(folder))
            same = old and all(old.get(k) == entry[k] for k in ("identity", "repos"))
            if old and (same or not refresh):
                return False
            records[str(folder)] = entry
            atomic.write_json(self.path, {"version": 2, "trusted": records}, mode=0o600)
        return True

    def repos(self, folder: Path) -> list[str]:
        """The repositories inside ``folder`` its trust covers."""
        return list(self._records().get(str(folder.resolve()), {}).get("repos", {}))

    def revoke(self, folder: Path) -> bool:
        folder = folder.resolve()
        with FileLock(str(self.path) + ".lock"):
            records = self._records()
            if records.pop(str(folder), None) is None:
                return False
            atomic.write_json(self.path, {"version": 2, "trusted": records}, mode=0o600)
        return True
