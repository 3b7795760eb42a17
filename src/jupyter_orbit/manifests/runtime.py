"""runtime.txt: repo2docker's one-line runtime, ``NAME-VERSION``, ``NAME-VERSION-YYYY-MM-DD`` or
``NAME-YYYY-MM-DD``.

``python-3.10`` (or ``python-3.10.4``: repo2docker keeps only major.minor) sets the Python;
``python-3`` asks for any Python 3, which Orbit then chooses to fit the notebook (repo2docker
takes its default). Other runtimes (``r-4.1-2021-10-22``: R with CRAN as of that day;
``julia-…``) are reported in a note and set nothing. Beside ``environment.yml`` or a
``Pipfile`` the Python it names is not used, as repo2docker's conda and Pipfile builds do not
read it; it beats a ``pyproject.toml``'s ``requires-python``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import add_note, binder_python, read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level

_HINT = "write one line such as python-3.11, python-3.10.4 or r-4.1-2021-10-22"
# Whose build ignores runtime.txt's Python (repo2docker picks them before its Python build).
_IGNORED_BESIDE = ("environment.yml", "Pipfile")


class RuntimeTxt(Manifest):
    """Reads the Python version from ``runtime.txt``."""

    name: ClassVar[str] = "runtime.txt"
    filenames: ClassVar[tuple[str, ...]] = ("runtime.txt",)
    precedence: ClassVar[int] = 50

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        out = Contribution(self.name, path, level)
        content = [
            (number, line.strip())
            for number, line in enumerate(read_text(path).splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")
        ]
        if not content:
            add_note(out, f"{path.name} is empty; it sets nothing")
            return out
        number, value = content[0]
        if len(content) > 1:
            raise InputError(
                f"{path.name} holds more than one line", _HINT, path=path, line=content[1][0]
            )
        name, version, day = _parse(value, path, number)
        if name == "python":
            python = binder_python(version or "")
            if python is None or not re.fullmatch(r"\d+(\.\d+)*", version or ""):
                raise InputError(
                    f"{path.name} names no Python version Orbit understands: {value!r}",
                    "write python-X.Y or python-X.Y.Z, for example python-3.11",
                    path=path,
                    line=number,
                )
            out.python = python
            if python != version:
                add_note(out, f"{path.name}: {value} means Python {python} to repo2docker")
            if day:
                add_note(out, f"{path.name}: the date {day} is for R's packages; Python ignores it")
        elif name == "r":
            what = f"R {version}" if version else "R"
            when = f" with CRAN's packages as of {day}" if day else ""
            add_note(
                out,
                f"{path.name}: {value} asks for {what}{when} (repo2docker's R build); Orbit does "
                "not install R from runtime.txt: the R kernel uses this system's R",
            )
        else:
            add_note(out, f"{path.name}: runtime {value!r} is not supported yet; it sets nothing")
        return out

    def python_ignored(self, present: Collection[str], *, binder: bool) -> str | None:
        beside = [name for name in _IGNORED_BESIDE if name in present]
        if beside:
            return (
                f"repo2docker builds {beside[0]} projects with the Python {beside[0]} names "
                "(or its default), never runtime.txt's"
            )
        return None


def _parse(value: str, path: Path, line: int) -> tuple[str, str | None, str | None]:
    """(name, version, date) as repo2docker splits runtime.txt (on ``-``)."""
    parts = value.split("-")
    if len(parts) not in (2, 4, 5) or not all(parts):
        raise InputError(
            f"{path.name} is not NAME-VERSION or NAME-[VERSION-]YYYY-MM-DD: {value!r}",
            _HINT,
            path=path,
            line=line,
        )
    version = parts[1] if len(parts) in (2, 5) else None
    day = None
    if len(parts) in (4, 5):
        day = "-".join(parts[-3:])
        try:
            date.fromisoformat(day)
        except ValueError:
            raise InputError(
                f"{path.name}: {day!r} is not a date (YYYY-MM-DD)", _HINT, path=path, line=line
            ) from None
    return parts[0], version, day
