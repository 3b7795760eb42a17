"""apt.txt: Debian packages to install, as repo2docker reads them.

One or more package names per line (separated by whitespace), ``#`` comments, blank lines. Each
name is checked against Debian's rules for package names, with an optional ``:arch`` and
``=version`` as ``apt-get install`` accepts them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Origin, Requirement

# Debian policy 5.6.1 (names), dpkg's architecture names, and 5.6.12 (versions).
APT_NAME = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9+.-]+)(?::(?P<arch>[a-z0-9-]+))?(?:=(?P<version>[A-Za-z0-9.+~:_-]+))?$"
)
_COMMENT = re.compile(r"(^|\s)#.*$")


def apt_requirement(text: str, origin: Origin) -> Requirement:
    """Check one apt package spec; the name and arch are lowercased, a version kept as written."""
    head, eq, version = text.strip().partition("=")
    spec = head.lower() + eq + version
    m = APT_NAME.match(spec)
    if not m:
        raise InputError(
            f"not a Debian package name: {text.strip()!r}",
            "use lowercase letters, digits and + - . (at least two characters), "
            "optionally followed by :arch or =version",
            path=origin.path,
            line=origin.line,
        )
    return Requirement("apt", m.group("name"), spec, origin)


class AptTxt(Manifest):
    """Reads Debian package names from ``apt.txt``."""

    name: ClassVar[str] = "apt.txt"
    filenames: ClassVar[tuple[str, ...]] = ("apt.txt",)

    def read(self, path: Path, *, root: Path, rank: int = 3) -> Contribution:
        out = Contribution(self.name, path, rank, declares={"apt"})
        for number, line in enumerate(read_text(path).splitlines(), 1):
            for word in _COMMENT.sub("", line).split():
                out.requirements.append(apt_requirement(word, self.origin(path, number, rank)))
        return out
