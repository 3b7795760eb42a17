"""Small helpers the format readers share: reading text, TOML errors, paths, python requests."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from jupyter_orbit import untrusted
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.base import Contribution

_TOML_POS = re.compile(r"at line (\d+), column (\d+)")


def read_text(path: Path, *, limit: int = untrusted.MAX_MANIFEST_BYTES) -> str:
    """Read a UTF-8 text file, dropping a BOM: a regular file of at most ``limit`` bytes; a
    missing, oversized, special or undecodable file is an InputError naming it."""
    return untrusted.read_text(path, limit=limit)


def load_toml(text: str, path: Path, *, what: str | None = None) -> dict[str, Any]:
    """Parse TOML, turning the parser's error into an ``InputError`` at its line."""
    try:
        return untrusted.parse(tomllib.loads, text, path=path, what=what or path.name)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_POS.search(str(e))
        line = int(m.group(1)) if m else None
        where = f"line {line}" if line else "the end of the file"
        raise InputError(
            f"malformed TOML in {what or path.name}: {e}",
            f"fix the TOML syntax at {where}",
            path=path,
            line=line,
        ) from None


def inside_root(
    target: Path, root: Path, *, source: Path, line: int | None, what: str = "path"
) -> Path:
    """Resolve ``target`` and check it stays inside ``root`` (symlinks followed)."""
    resolved = target.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise InputError(
            f"{what} {target} points outside the project folder {root}",
            "keep referenced files inside the project, or open the enclosing folder as the project",
            path=source,
            line=line,
        )
    return resolved


def add_note(out: Contribution, note: str) -> None:
    """Add a note once; readers call this freely from loops."""
    if note not in out.notes:
        out.notes.append(note)


def python_request(text: object, *, what: str, path: Path, line: int | None = None) -> str:
    """Validate a Python version request: a version ("3.11") or a specifier set (">=3.10").

    The text is kept as written (stripped), so reports show what the file says.
    """
    if isinstance(text, str) and text.strip():
        value = text.strip()
        for parse in (Version, SpecifierSet):
            try:
                parse(value)
            except (InvalidVersion, InvalidSpecifier):
                continue
            return value
    raise InputError(
        f"{what} is not a Python version: {text!r}",
        "write a version such as '3.11' or a range such as '>=3.10'",
        path=path,
        line=line,
    )


def iso_timestamp(text: object, *, what: str, path: Path, line: int | None = None) -> str:
    """Validate an ISO 8601 date or date-time and return it as written (stripped)."""
    if isinstance(text, str):
        value = text.strip()
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                parse(value)
            except ValueError:
                continue
            return value
    raise InputError(
        f"{what} is not an ISO 8601 date or date-time: {text!r}",
        "write a date such as '2024-06-01' or a time such as '2024-06-01T00:00:00Z'",
        path=path,
        line=line,
    )


def line_of(text: str, pattern: str | re.Pattern[str], start: int = 1) -> int | None:
    """The 1-based number of the first line at or after ``start`` matching ``pattern``."""
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    for number, content in enumerate(text.splitlines()[start - 1 :], start):
        if rx.search(content):
            return number
    return None


_LEADING_VERSION = re.compile(r"\d+(\.\d+)*")


def binder_python(text: str) -> str | None:
    """A declared Python as repo2docker takes it: the leading version's major.minor
    (``3.11.13`` → ``3.11``); a bare major stays a major (``3``: any Python 3), except ``2``,
    which can only be 2.7. None when the text starts with no version."""
    m = _LEADING_VERSION.match(text.strip())
    if m is None:
        return None
    parts = m.group().split(".")
    if len(parts) == 1:
        return "2.7" if parts[0] == "2" else parts[0]
    return ".".join(parts[:2])
