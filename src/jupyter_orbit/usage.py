"""When each environment was last used, and by which notebooks: a small record in Orbit's own
state (``$ORBIT_HOME/usage.json``), never in a project.

A line is written whenever a kernel is started in an environment (``orbit run``, the server's
kernels, the warm-kernel pool); ``orbit envs`` shows it and ``orbit gc`` goes by it.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_orbit import atomic
from jupyter_orbit.paths import Paths

MAX_NOTEBOOKS = 20  # kept per environment, most recent first


def _file(paths: Paths) -> Path:
    return paths.home / "usage.json"


def key(engine: str, env_id: str) -> str:
    return f"{engine}:{env_id}"


def load(paths: Paths) -> dict[str, dict[str, Any]]:
    """``engine:env_id`` → ``{"last_used": ISO time, "notebooks": [paths]}``."""
    try:
        data = json.loads(_file(paths).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def record(paths: Paths, engine: str, env_id: str, notebook: Path | None = None) -> None:
    """Note that a kernel started in ``env_id`` now (for ``notebook``, when there is one)."""
    from filelock import FileLock

    path = _file(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        data = load(paths)
        entry = data.get(key(engine, env_id), {})
        notebooks = [n for n in entry.get("notebooks", []) if n != str(notebook)]
        if notebook is not None:
            notebooks.insert(0, str(notebook))
        data[key(engine, env_id)] = {
            "last_used": datetime.now(UTC).isoformat(timespec="seconds"),
            "notebooks": notebooks[:MAX_NOTEBOOKS],
        }
        atomic.write_json(path, data)


def forget(paths: Paths, keys: list[str]) -> None:
    """Drop the record of environments that were removed."""
    from filelock import FileLock

    path = _file(paths)
    if not path.exists():
        return
    with FileLock(str(path) + ".lock"):
        data = load(paths)
        for k in keys:
            data.pop(k, None)
        with contextlib.suppress(OSError):
            atomic.write_json(path, data)
