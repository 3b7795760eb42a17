"""Reading what Orbit does not control: project files, notebooks, imported profiles.

Each read is bounded before it starts: the path must name a regular file (a FIFO would hang
the read, ``/dev/zero`` behind a symlink would never end), its size is checked against a cap
before a byte is read, and no more than the cap is read even if the file grows meanwhile. Each
parse is bounded too: documents nested deeper than any real one are refused with the file
named (the parsers would otherwise end in ``RecursionError``, or take seconds first), and
notebook JSON can be read with duplicate keys and ``NaN`` marked, so that the parts Orbit acts
on can refuse them by name instead of silently taking the last value.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from jupyter_orbit.errors import InputError

MAX_DEPTH = 64  # nesting of any document Orbit reads; real ones stay under ten
MAX_MANIFEST_BYTES = 8 * 2**20  # requirements.txt, pyproject.toml, environment.yml …
MAX_NOTEBOOK_BYTES = 256 * 2**20  # notebooks carry their outputs

T = TypeVar("T")


def read_bytes(path: Path, *, limit: int, what: str | None = None) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``limit`` of them.

    Refused with an ``InputError`` naming the file: a missing file, a folder, anything that is
    not a regular file (FIFO, socket, device), a file larger than ``limit``, one that cannot be
    read (permissions).
    """
    name = what or path.name
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(f"file not found: {name}", "check the path and name", path=path) from None
    except IsADirectoryError:
        raise _folder(path, name) from None
    except OSError as e:
        raise _unreadable(path, name, e) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _folder(path, name)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"{name} is not a regular file ({_kind(info.st_mode)})",
                "point at an ordinary file (a FIFO, device or socket is never read)",
                path=path,
            )
        if info.st_size > limit:
            raise too_large(path, name, info.st_size, limit)
        os.set_blocking(fd, True)
        chunks = []
        left = limit + 1  # one byte more than allowed tells a file that grew past the cap
        while left > 0:
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise _unreadable(path, name, e) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise too_large(path, name, len(data), limit)
    return data


def read_text(path: Path, *, limit: int, what: str | None = None) -> str:
    """``read_bytes`` decoded as UTF-8 (a BOM dropped); undecodable text names the line."""
    data = read_bytes(path, limit=limit, what=what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(
            f"{what or path.name} is not UTF-8 text (bad byte at offset {e.start})",
            "save the file as UTF-8",
            path=path,
            line=line,
        ) from None


def too_large(path: Path | None, name: str, size: int, limit: int) -> InputError:
    return InputError(
        f"{name} is {size} bytes; Orbit reads at most {limit} bytes from such a file",
        "check that it is the file you meant; real ones are far smaller",
        path=path,
    )


def _folder(path: Path, name: str) -> InputError:
    return InputError(f"{name} is a folder, not a file", "point at a file instead", path=path)


def _unreadable(path: Path, name: str, e: OSError) -> InputError:
    if e.errno in (errno.EACCES, errno.EPERM):
        hint = "check the file's permissions"
    elif e.errno == errno.ELOOP:
        hint = "the path is a loop of symbolic links: fix the link"
    else:
        hint = "check the file"
    return InputError(f"cannot read {name}: {e.strerror or e}", hint, path=path)


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


# -- parsing ----------------------------------------------------------------------------------


def parse(
    parser: Callable[[str], T],
    text: str,
    *,
    path: Path | None,
    what: str,
    limit: int | None = MAX_DEPTH,
) -> T:
    """``parser(text)``, refusing documents nested more than ``limit`` deep.

    Parsers recurse: a document nested thousands deep ends in ``RecursionError`` (or a
    ``MemoryError``), which becomes an ``InputError`` naming the file; what parses is then
    checked for depth (unless ``limit`` is None), so nothing after the parser recurses that
    deep either.
    """
    try:
        value = parser(text)
    except RecursionError:
        raise too_deep(path, what, limit or MAX_DEPTH) from None
    except MemoryError:
        raise InputError(
            f"{what} is too large to read", "check that it is the file you meant", path=path
        ) from None
    if limit is not None:
        check_depth(value, path=path, what=what, limit=limit)
    return value


def too_deep(path: Path | None, what: str, limit: int = MAX_DEPTH) -> InputError:
    return InputError(
        f"{what} is nested more than {limit} levels deep",
        "real files are nested a few levels; check that it is the file you meant",
        path=path,
    )


def depth(value: Any, stop: int = MAX_DEPTH) -> int:
    """How deep lists and dicts nest in ``value`` (counting stops past ``stop``); iterative,
    and each object is visited once, so shared references (YAML aliases) cost nothing."""
    deepest = 0
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children: Iterator[Any] = iter(item.values())
        elif isinstance(item, list | tuple):
            children = iter(item)
        else:
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        deepest = max(deepest, level)
        if deepest > stop:
            return deepest
        todo.extend((child, level + 1) for child in children)
    return deepest


def check_depth(value: Any, *, path: Path | None, what: str, limit: int = MAX_DEPTH) -> None:
    if depth(value, limit) > limit:
        raise too_deep(path, what, limit)


def bracket_depth(text: str) -> int:
    """The deepest run of unclosed ``[``/``{`` in ``text``, quotes ignored: a cheap bound to
    refuse flow-nested YAML before its parser spends seconds on it."""
    deepest = level = 0
    for ch in text:
        if ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}" and level:
            level -= 1
    return deepest


# -- JSON with duplicate keys and NaN marked --------------------------------------------------


class Duplicates(dict):
    """A JSON object that had duplicate keys (the last value kept, as ``json`` does)."""

    duplicates: tuple[str, ...] = ()


class NonFinite(float):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a JSON text (JSON allows none of them)."""

    text = "NaN"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    marked = Duplicates(out)
    seen: set[str] = set()
    marked.duplicates = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return marked


def _constant(text: str) -> float:
    value = NonFinite(float(text.replace("Infinity", "inf")))
    value.text = text
    return value


def loads_marked(text: str) -> Any:
    """``json.loads``, with objects that had duplicate keys as ``Duplicates`` and
    ``NaN``/``Infinity`` as ``NonFinite``, for ``check_clean`` to find."""
    return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)


def unclean(value: Any, where: str) -> tuple[str, str] | None:
    """The first duplicate key or non-finite number in ``value``: (its key path, what)."""
    todo: list[tuple[Any, str]] = [(value, where)]
    while todo:
        item, at = todo.pop()
        if isinstance(item, Duplicates):
            return f"{at}.{item.duplicates[0]}", "is given twice"
        if isinstance(item, NonFinite):
            return at, f"is {item.text}, which JSON does not allow"
        if isinstance(item, dict):
            todo.extend((v, f"{at}.{k}") for k, v in reversed(item.items()))
        elif isinstance(item, list):
            todo.extend((v, f"{at}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None
