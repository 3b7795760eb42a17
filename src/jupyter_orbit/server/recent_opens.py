"""The environments of the notebooks recently opened in each folder, kept in the profile.

After ``orbit up`` the pool warms, once no user's kernel is starting, the environments of the
notebooks last opened under the same root: the notebook opened first after a restart then most
likely finds its kernel warm. The record lives in the profile's state (``recent-opens.json``),
never in the project folder, and holds for each root (its real path) the last few environments
with the kernel command that keeps them warm.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from jupyter_orbit import atomic, locking

MAX_ROOTS = 32  # folders remembered (the least recently used forgotten first)
MAX_PER_ROOT = 8  # environments remembered per folder


class RecentOpens:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, list[dict]]:
        """Every root's record. Its commands are started without asking (the pool warms them,
        the server's head start first of all), so a file another user owns or could have
        written (group or others may write it) is no record, as ssh ignores such a key file."""
        try:
            with self.path.open("rb") as f:
                st = os.fstat(f.fileno())
                if st.st_uid != os.getuid() or st.st_mode & 0o022:
                    return {}
                data = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        roots = data.get("roots") if isinstance(data, dict) else None
        if not isinstance(roots, dict):
            return {}
        return {
            root: [e for e in entries if isinstance(e, dict) and isinstance(e.get("env_id"), str)]
            for root, entries in roots.items()
            if isinstance(root, str) and isinstance(entries, list)
        }

    def of(self, root: Path) -> list[dict]:
        """The environments opened under ``root``, most recent first."""
        return self.load().get(str(root), [])

    def remember(self, root: Path, entry: dict) -> None:
        """Put ``entry`` (one environment: ``env_id`` and what warms it) first for ``root``."""
        entry = {**entry, "used": datetime.now(UTC).isoformat(timespec="seconds")}
        with locking.locked(self.path):
            roots = self.load()
            key = str(root)
            kept = [e for e in roots.pop(key, []) if e["env_id"] != entry["env_id"]]
            roots = {key: [entry, *kept][:MAX_PER_ROOT], **roots}
            roots = dict(list(roots.items())[:MAX_ROOTS])
            text = json.dumps({"roots": roots}, indent=1) + "\n"
            # its kernels' variables are in it: for this user's eyes only
            atomic.write_bytes(self.path, text.encode("utf-8"), mode=0o600)
