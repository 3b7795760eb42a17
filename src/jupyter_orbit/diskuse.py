"""What Orbit keeps on disk, and what can go: ``orbit envs`` and ``orbit gc``.

Every engine lists what it keeps for this data root (``Engine.stored``): kernel environments,
kernel images (when a container engine answers), the profiles' server environments, and what
interrupted builds left behind — each with its size, what removing it frees, and, from the usage
record (``usage``), when a kernel last started in it and for which notebooks.

Nothing in use is removed: an environment a kernel of a running server uses (the servers' own
account of their kernels and warm kernels), one any process runs from (``orbit run``'s kernels,
the servers themselves), a profile's current server environment, an image a container was made
from, a build under way.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jupyter_orbit import usage
from jupyter_orbit.engines.base import Engine, Stored, engine_classes
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.paths import Paths

DEFAULT_AGE = "30d"
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class Entry:
    engine: Engine
    stored: Stored
    last_used: str | None = None
    notebooks: list[str] = field(default_factory=list)
    kept: str | None = None  # why it stays, whatever its age
    spare: bool = False  # a build folder a running server keeps ready for hot add

    @property
    def kind(self) -> str:
        if self.stored.leftover:
            return "hot add clone" if self.spare else "leftover"
        return self.engine.stores

    @property
    def when(self) -> datetime | None:
        """When it was last of use: a kernel started in it, else when it was made."""
        for text in (self.last_used, self.stored.created):
            if text:
                with contextlib.suppress(ValueError):
                    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
                    return when if when.tzinfo else when.replace(tzinfo=UTC)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "engine": self.engine.id,
            "env_id": self.stored.env_id,
            "location": self.stored.location,
            "size": self.stored.size,
            "frees": self.stored.frees,
            "created": self.stored.created,
            "last_used": self.last_used,
            "notebooks": self.notebooks,
            "in_use": self.kept,
        }


def parse_age(text: str) -> timedelta:
    """``30d``, ``2w``, ``12h``, ``90m``, or a number of days (``0``: any age)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*", text)
    if m is None:
        raise InputError(f"not an age: {text!r}", "write e.g. 30d, 2w, 12h or 0")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "d"])


def engines(paths: Paths) -> list[Engine]:
    """Every engine that may keep something here, the profiles' server environments too."""
    from jupyter_orbit.profiles.server_env import ServerEngine

    found: list[Engine] = []
    for cls in engine_classes().values():
        with contextlib.suppress(OrbitError, TypeError):
            found.append(cls(paths))
    return [*found, ServerEngine(paths)]


def inventory(paths: Paths) -> tuple[list[Entry], list[str]]:
    """Everything kept, with what keeps it; and notes (an engine that did not answer)."""
    records = usage.load(paths)
    entries: list[Entry] = []
    notes: list[str] = []
    for engine in engines(paths):
        try:
            items = engine.stored()
            busy = engine.in_use(items) if items else {}
        except OrbitError as e:
            notes.append(f"{engine.id}: {e.message}")
            continue
        for item in items:
            record = records.get(usage.key(engine.id, item.env_id), {})
            entries.append(
                Entry(
                    engine,
                    item,
                    record.get("last_used"),
                    list(record.get("notebooks", [])),
                    busy.get(item.location),
                )
            )
    keep, folders = _kept_by_servers(paths, notes)
    for entry in entries:  # the servers' account says more than a process number
        if not entry.stored.leftover:
            entry.kept = keep.get((entry.engine.id, entry.stored.env_id)) or entry.kept
        elif why := folders.get(str(entry.stored.location)):  # kept by a running server
            entry.kept, entry.spare = why, True
    return entries, notes


def _kept_by_servers(
    paths: Paths, notes: list[str]
) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(engine, env id) → why: kernels and warm kernels of running servers, and each
    profile's current server environment; and folder → why: the clones running servers keep
    ready for hot add."""
    from jupyter_orbit import settings as profile_settings
    from jupyter_orbit.profiles.server_env import ServerEngine, server_spec
    from jupyter_orbit.state import running

    server_engine = ServerEngine(paths).id
    out: dict[tuple[str, str], str] = {}
    folders: dict[str, str] = {}
    if not paths.profiles_dir.is_dir():
        return out, folders
    for folder in sorted(paths.profiles_dir.iterdir()):
        try:
            prof = paths.profile(folder.name)
        except InputError:
            continue
        if prof.settings_file.exists():
            try:
                spec = server_spec(profile_settings.read(prof.settings_file))
                out[(server_engine, spec.env_id)] = f"the server environment of profile {prof.name}"
            except OrbitError as e:
                notes.append(f"profile {prof.name}: {e}")
        state = running(prof, check_http=False)
        if state is None:
            continue
        try:
            info = state.client(timeout=10).get_json("/orbit/api/status")
        except OrbitError as e:
            notes.append(f"profile {prof.name}'s server did not say what it runs: {e.message}")
            continue
        for k in info.get("kernels", []):
            if k.get("env_id"):
                where = f" ({k['notebook']})" if k.get("notebook") else ""
                why = f"a kernel of profile {prof.name}'s server{where}"
                out.setdefault((k.get("engine") or "local", k["env_id"]), why)
        for p in info.get("pool", []):  # warm kernels are local ones
            out.setdefault(("local", p["env_id"]), f"a warm kernel of profile {prof.name}'s server")
        for spare in info.get("spares", {}).values():
            if spare.get("folder"):
                why = f"a clone kept ready for hot add by profile {prof.name}'s server"
                folders[spare["folder"]] = why
    return out, folders


@dataclass
class Removal:
    entry: Entry
    error: str | None = None


def collect(paths: Paths, older_than: timedelta, *, dry_run: bool = False) -> list[Removal]:
    """Remove what nothing uses and nobody has used for ``older_than`` (leftovers whatever
    their age); with ``dry_run``, only say what would go."""
    entries, _ = inventory(paths)
    now = datetime.now(UTC)
    out = []
    for entry in sorted(entries, key=lambda e: (not e.stored.leftover, e.kind)):
        if entry.kept is not None:
            continue
        when = entry.when
        if not entry.stored.leftover and when is not None and now - when < older_than:
            continue
        removal = Removal(entry)
        if not dry_run:
            try:
                entry.engine.remove(entry.stored)
            except OrbitError as e:
                removal.error = e.message
        out.append(removal)
    if not dry_run:
        gone = [
            usage.key(r.entry.engine.id, r.entry.stored.env_id)
            for r in out
            if r.error is None and not r.entry.stored.leftover
        ]
        with contextlib.suppress(OSError):
            usage.forget(paths, gone)
    return out


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
