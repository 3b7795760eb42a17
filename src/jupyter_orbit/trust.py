"""Which folders the user trusts to declare what gets installed.

Nothing a project declares is installed, and no option that changes where packages come from is
honoured, until the user has trusted the project: by giving its folder to ``orbit up``, with
``orbit trust``, or with ``--yes`` for one command. The record is one JSON file under ORBIT_HOME.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from jupyter_orbit import atomic


class TrustStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            # A damaged record trusts nothing; it is rewritten on the next `orbit trust`.
            return {}
        return {str(k): str(v) for k, v in data.get("trusted", {}).items()}

    def trusted(self) -> dict[str, str]:
        return self._load()

    def is_trusted(self, path: Path) -> bool:
        """True when ``path`` or one of its parents has been trusted."""
        path = path.resolve()
        folders = {Path(p) for p in self._load()}
        return any(d in folders for d in (path, *path.parents))

    def trust(self, folder: Path) -> bool:
        """Record ``folder`` as trusted; False if it already was."""
        folder = folder.resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            record = self._load()
            if str(folder) in record:
                return False
            record[str(folder)] = datetime.now(UTC).isoformat(timespec="seconds")
            atomic.write_json(self.path, {"version": 1, "trusted": record}, mode=0o600)
        return True

    def revoke(self, folder: Path) -> bool:
        folder = folder.resolve()
        with FileLock(str(self.path) + ".lock"):
            record = self._load()
            if record.pop(str(folder), None) is None:
                return False
            atomic.write_json(self.path, {"version": 1, "trusted": record}, mode=0o600)
        return True
