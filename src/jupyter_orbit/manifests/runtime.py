"""runtime.txt: repo2docker's one-line runtime pin, e.g. ``python-3.11`` or ``python-3.10.4``.

Other runtimes repo2docker knows (``r-2019-01-01`` for an MRAN snapshot date, ``julia-…``) are
not supported yet: the file is then reported with a note and sets nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import add_note, read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level

_PYTHON = re.compile(r"^python-(?P<version>\d+\.\d+(?:\.\d+)?)$")


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
                f"{path.name} holds more than one line",
                "keep a single line such as python-3.11",
                path=path,
                line=content[1][0],
            )
        if m := _PYTHON.match(value):
            out.python = m.group("version")
        elif value.startswith("python"):
            raise InputError(
                f"{path.name} names no Python version Orbit understands: {value!r}",
                "write python-X.Y or python-X.Y.Z, for example python-3.11",
                path=path,
                line=number,
            )
        else:
            add_note(out, f"{path.name}: runtime {value!r} is not supported yet; it sets nothing")
        return out
