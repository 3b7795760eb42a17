"""The date unpinned requirements are resolved as of: where it comes from, and what it means.

Every resolution has a date, so an unpinned notebook resolves tomorrow, next year and on another
machine as it does today. Where the date comes from, first match wins (docs/as-of.md):

1. ``--as-of DATE|now`` on the command line (a lock present is then set aside and re-resolved);
2. a lock: no date at all, the lock decides every version;
3. the notebook's stamp: ``metadata.orbit.as_of``, then ``[tool.uv] exclude-newer`` in its
   PEP 723 block;
4. the date Orbit remembered for the notebook when the server first prepared its kernel
   (``jupyter_orbit.notebook_dates``; in Orbit's state, not in the notebook), unless git has a
   later one;
5. git: the day of the last commit touching the notebook or an environment file it uses, unless
   one of them has uncommitted changes;
6. now.

Dates are canonical UTC timestamps (``2017-05-01T00:00:00Z``): that is what enters the spec's hash
and what every ecosystem receives. A bare date means the start of that day in UTC. Detected dates
are whole days so that they change at most daily: "now" is the start of today (UTC), or the date
of the environment last built for the very same requirements with a "now" date, if it is still
there; a git date is the start of the commit's day.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit.errors import AsOfError, BuildError, InputError, OrbitError

if TYPE_CHECKING:
    from jupyter_orbit.model import EnvSpec, Resolution
    from jupyter_orbit.notebook_dates import Remembered

CLI, LOCK, METADATA, PEP723, REMEMBERED, GIT, NOW = (
    "command line",
    "lock",
    "metadata.orbit",
    "pep723",
    "remembered",
    "git",
    "now",
)
SOURCES = (CLI, LOCK, METADATA, PEP723, REMEMBERED, GIT, NOW)
# Detected dates, which hold only while nothing changes: the server remembers them in Orbit's
# state (jupyter_orbit.notebook_dates), never in the notebook.
DETECTED = (GIT, NOW)

DATE_HINT = "write a date such as 2017-05-01, a UTC time such as 2017-05-01T12:00:00Z, or 'now'"

# The first release of each Python minor version: the newest Python as of a date is a sound
# suggestion when packages of that time have no wheels for today's Python.
_PYTHONS = (
    ("2.7", date(2010, 7, 3)),
    ("3.4", date(2014, 3, 16)),
    ("3.5", date(2015, 9, 13)),
    ("3.6", date(2016, 12, 23)),
    ("3.7", date(2018, 6, 27)),
    ("3.8", date(2019, 10, 14)),
    ("3.9", date(2020, 10, 5)),
    ("3.10", date(2021, 10, 4)),
    ("3.11", date(2022, 10, 24)),
    ("3.12", date(2023, 10, 2)),
    ("3.13", date(2024, 10, 7)),
    ("3.14", date(2025, 10, 7)),
    ("3.15", date(2026, 10, 1)),  # PEP 790's date
)
# ``ORBIT_NOW``: the clock, fixed (tests make "now" a date of their choosing with it).
CLOCK_VARIABLE = "ORBIT_NOW"

Recall = Callable[["Resolution"], "str | None"]
# The date remembered for a notebook (a ``notebook_dates.Remembered``), asked by ``settle``.
RecallNotebook = Callable[["Resolution"], "Remembered | None"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def clock(environ: Mapping[str, str] | None = None) -> datetime:
    """What "now" is for a run: ``ORBIT_NOW`` when set (an ISO date or time, UTC unless it says
    otherwise), else the real time. Read once, where a command or the server makes its
    choices, and passed down from there."""
    import os

    value = (os.environ if environ is None else environ).get(CLOCK_VARIABLE, "").strip()
    if not value:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{CLOCK_VARIABLE} is not a date or time: {value!r}",
            f"unset it, or write e.g. {CLOCK_VARIABLE}=2025-06-01T00:00:00Z",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def canonical(moment: datetime) -> str:
    """``2017-05-01T12:00:00Z``: UTC, whole seconds; naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_of(moment: datetime) -> str:
    """The start of ``moment``'s day in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    d = moment.astimezone(UTC).date()
    return canonical(datetime(d.year, d.month, d.day, tzinfo=UTC))


def short(as_of: str) -> str:
    """``2017-05-01`` for the start of a day, else the full timestamp: for messages."""
    return as_of.removesuffix("T00:00:00Z")


def to_datetime(as_of: str) -> datetime:
    """A canonical date back as an aware datetime (for ecosystems that want one)."""
    return datetime.fromisoformat(as_of)


def parse(
    text: object,
    *,
    now: datetime,
    what: str,
    path: Path | None = None,
    hint: str | None = None,
) -> str:
    """A date as a user or a file writes it, in canonical form; ``now`` is today.

    A malformed date and a date in the future are ``InputError``s naming ``what``.
    """
    value = text.strip() if isinstance(text, str) else None
    if value is not None and value.lower() == "now":
        return day_of(now)
    moment = None
    if value:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                d = date.fromisoformat(value)
                moment = datetime(d.year, d.month, d.day, tzinfo=UTC)
            except ValueError:
                moment = None
        else:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
    if moment is None:
        raise InputError(f"{what} is not a date: {text!r}", hint or DATE_HINT, path=path)
    out = canonical(moment)
    if to_datetime(out) > now:
        raise InputError(
            f"{what} {value} is in the future (it is {canonical(now)} now)",
            hint or "use a date in the past, or 'now' for today's versions",
            path=path,
        )
    return out


def settle(
    res: Resolution,
    *,
    now: datetime | None = None,
    recall: Recall | None = None,
    remembered: RecallNotebook | None = None,
) -> Resolution:
    """Give ``res`` its date and the date's source, by the precedence above.

    ``res.spec.as_of`` arrives as written by its best-ranked source (``res.as_of_source``: the
    command line, or one of the notebook's stamps), or None. ``remembered`` gives the date Orbit
    remembered for the notebook, if any.
    """
    now = now or utcnow()
    spec = res.spec
    source = res.as_of_source
    notes = list(res.notes)
    sources = res.sources
    nb = res.notebook
    name = nb.name if nb else str(res.target)
    if source == CLI:
        as_of = parse(spec.as_of, now=now, what="--as-of")
        detail = "--as-of " + str(spec.as_of).strip()
        if spec.lock is not None:
            notes.append(
                f"the {spec.lock.format} lock is set aside: --as-of resolves every package again"
            )
            sources = tuple(
                replace(s, provides=tuple(p for p in s.provides if p != "lock")) for s in sources
            )
            spec = replace(spec, lock=None)
        return _with(res, spec, as_of, CLI, detail, notes, sources)
    if spec.lock is not None:
        origin = spec.lock.origin
        detail = spec.lock.format
        if origin is not None and origin.path is not None:
            detail += f" in {origin.path.name}"
        if source in (METADATA, PEP723):
            notes.append(f"the stamp {spec.as_of} in {name} is not used while the lock decides")
        return _with(res, spec, None, LOCK, detail + ": every version is pinned", notes, sources)
    if source in (METADATA, PEP723):
        what = (
            f"metadata.orbit.as_of in {name}"
            if source == METADATA
            else f"[tool.uv] exclude-newer in the PEP 723 block of {name}"
        )
        fix = f"fix it with `orbit stamp {name} now` (or a past date), or `--clear` it"
        as_of = parse(spec.as_of, now=now, what=what, path=nb, hint=fix)
        detail = "metadata.orbit.as_of" if source == METADATA else "[tool.uv] exclude-newer"
        return _with(res, spec, as_of, source, f"{detail} in {name}", notes, sources)
    if source is not None:  # a project file that states a date of its own
        where = next((s.path for s in res.sources if s.kind == source and s.path), None)
        as_of = parse(spec.as_of, now=now, what=f"the date in {source}", path=where)
        return _with(res, spec, as_of, source, f"the date in {where or source}", notes, sources)
    as_of, source, detail = _detect(res, now, recall)
    kept = remembered(res) if remembered and nb else None
    # A later git date wins: work committed since is resolved as a fresh clone would be.
    later_git = kept is not None and source == GIT and as_of >= kept.as_of
    if kept is not None and not later_git and to_datetime(kept.as_of) <= now:
        source, as_of = REMEMBERED, kept.as_of
        detail = (
            f"remembered for {name} since {kept.recorded[:10]}, "
            f"first from {kept.source}: {kept.detail}"
        )
    return _with(res, spec, as_of, source, detail, notes, sources)


def _with(
    res: Resolution,
    spec: EnvSpec,
    as_of: str | None,
    source: str,
    detail: str,
    notes: list[str],
    sources: tuple,
) -> Resolution:
    return replace(
        res,
        spec=replace(spec, as_of=as_of),
        as_of_source=source,
        as_of_detail=detail,
        notes=tuple(dict.fromkeys(notes)),
        sources=sources,
    )


def _detect(res: Resolution, now: datetime, recall: Recall | None) -> tuple[str, str, str]:
    """Git's date for the environment's files, else now."""
    from jupyter_orbit import gitdate

    files = environment_files(res)
    if files:
        try:
            found = gitdate.last_change(files)
        except gitdate.GitUnavailable:
            found = None
        if found is not None and found.uncommitted:
            shown = ", ".join(Path(u).name for u in found.uncommitted[:3])
            return _now(res, now, recall, f"{shown}: uncommitted changes in git")
        if found is not None and found.date is not None and found.commit:
            names = ", ".join(f.name for f in files[:4]) + (" …" if len(files) > 4 else "")
            when = found.date.isoformat(timespec="seconds")
            detail = f"{names} last committed {when} ({found.commit[:10]})"
            if found.shallow:
                detail += "; a shallow clone, so the real last change may be older"
            as_of = day_of(found.date)
            if to_datetime(as_of) > now:  # a commit from a clock ahead of ours
                return _now(res, now, recall, detail + ", in the future")
            return as_of, GIT, detail
    return _now(res, now, recall, "no stamp, lock or git history")


def _now(res: Resolution, now: datetime, recall: Recall | None, why: str) -> tuple[str, str, str]:
    today = day_of(now)
    remembered = recall(res) if recall else None
    if remembered and remembered < today:
        return remembered, NOW, f"{why}; the date of the environment built for these requirements"
    return today, NOW, f"{why}; today (UTC)"


def environment_files(res: Resolution) -> list[Path]:
    """The notebook and every file its environment was read from."""
    found: list[Path] = []
    if res.notebook:
        found.append(res.notebook)
    found += [s.path for s in res.sources if s.path is not None]
    for r in (*res.spec.requirements, *res.spec.constraints):
        if r.origin is not None and r.origin.path is not None:
            found.append(r.origin.path)
    return [p for p in dict.fromkeys(found) if p.is_file()]


# -- "now" remembered per requirements --------------------------------------------------------


def dateless_id(spec: EnvSpec) -> str:
    """The environment id ``spec`` would have without its date."""
    blob = json.dumps(dict(spec.identity(), as_of=None), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# -- reporting ------------------------------------------------------------------------------


def describe(res: Resolution) -> str:
    """One line: the date and why it was chosen."""
    if res.spec.as_of is None:
        return f"no date: {res.as_of_detail}" if res.as_of_detail else "no date"
    return f"{short(res.spec.as_of)} ({res.as_of_source}: {res.as_of_detail})"


def python_of(as_of: str) -> str | None:
    """The newest Python minor version released by ``as_of``."""
    day = to_datetime(as_of).date()
    found = [v for v, released in _PYTHONS if released <= day]
    return found[-1] if found else None


def python_released(minor: str) -> str | None:
    """The day Python ``minor`` (``3.10``) was first released, canonical; None if unknown."""
    day = dict(_PYTHONS).get(minor)
    return canonical(datetime(day.year, day.month, day.day, tzinfo=UTC)) if day else None


def pythons_released(as_of: str) -> list[str]:
    """Every Python minor version released by ``as_of``, oldest first."""
    day = to_datetime(as_of).date()
    return [v for v, released in _PYTHONS if released <= day]


def explain(
    err: OrbitError, res: Resolution, *, cache: Path | None = None, python: str | None = None
) -> OrbitError:
    """A build failure with a dated spec, told with the date, where it came from, and the fix.

    Only fixes that can work are offered: ``python``, a Python found to install the packages
    of that date (``era.suggest``), else a Python of the notebook's time that is on this
    machine or that uv can install (``cache``: where the look for Pythons is kept).
    """
    if not isinstance(err, BuildError) or res.spec.as_of is None or not err.dated:
        return err  # e.g. a name the index does not have: no date would help
    why = f"{res.as_of_source}: {res.as_of_detail}"
    target = res.notebook.name if res.notebook else str(res.target)
    fixes = ["use today's versions with `--as-of now`"]
    if res.notebook:
        fixes.append(f"or write a later date into the notebook: `orbit stamp {target} DATE`")
    if python:
        fixes.append(f"or a Python its packages of that time install on: `--python {python}`")
    elif older := _older_python(res, cache):
        fixes.append(older)
    hint = ", ".join(fixes)
    if isinstance(err, AsOfError):
        return AsOfError(
            f"{err.message}; the date is from {why}", hint, path=err.path, line=err.line
        )
    return type(err)(
        f"{err.message} (resolving as of {short(res.spec.as_of)}, from {why})",
        f"{err.hint}; or {hint}" if err.hint else hint,
        path=err.path,
        line=err.line,
    )


def _older_python(res: Resolution, cache: Path | None) -> str | None:
    """``--python X.Y`` for the newest Python of the date's time that is older than the one in
    use and can be had here; else how to get the Python of that time."""
    from jupyter_orbit import pythons
    from jupyter_orbit.uvcli import python_downloads

    assert res.spec.as_of is not None
    era = python_of(res.spec.as_of)
    asked = res.spec.python or ""
    in_use = asked if re.fullmatch(r"\d+(\.\d+)*", asked) else pythons.default_python()
    if era is None or pythons.version_key(era) >= pythons.version_key(pythons.minor_of(in_use)):
        return None
    here = set(pythons.by_minor(pythons.discover(cache)))
    older = [
        v
        for v in pythons_released(res.spec.as_of)
        if pythons.version_key(v) >= pythons.OLDEST_USABLE
        and pythons.version_key(v) < pythons.version_key(pythons.minor_of(in_use))
        and (v in here or v in python_downloads())
    ]
    if older:
        return f"or a Python of that time: `--python {older[-1]}`"
    return f"or a Python of that time ({era}): uv cannot install it; {pythons.how_to_get(era)}"


def debian_snapshot(as_of: str, suite: str = "bookworm") -> str:
    """The APT source line for Debian as it stood at ``as_of`` (snapshot.debian.org).

    For engines that build images: the archive's Release files are long expired, hence
    ``check-valid-until=no``; the suite must be one that existed at that date.
    """
    stamp = to_datetime(as_of).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/{stamp}/ "
        f"{suite} main"
    )
