"""apt.txt: Debian packages to install, as repo2docker reads them.

One or more package names per line (separated by whitespace), ``#`` comments, blank lines. Each
name is checked against Debian's rules for package names, with an optional ``:arch`` and
``=version`` as ``apt-get install`` accepts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.ecosystems.apt import Apt
from jupyter_orbit.manifests._common import read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level, Requirement

_COMMENT = re.compile(r"(^|\s)#.*$")


class AptTxt(Manifest):
    """Reads Debian package names from ``apt.txt``."""

    name: ClassVar[str] = "apt.txt"
    filenames: ClassVar[tuple[str, ...]] = ("apt.txt",)
    precedence: ClassVar[int] = 60
    ecosystems: ClassVar[tuple[str, ...]] = ("apt",)

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        out = Contribution(self.name, path, level, declares={"apt"})
        for number, line in enumerate(read_text(path).splitlines(), 1):
            for word in _COMMENT.sub("", line).split():
                out.requirements.append(Apt.parse(word, self.origin(path, number, level)))
        return out

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        return edit_text(text, path=path, add=add, remove=remove)


# -- writing (round trip) -------------------------------------------------------------------

_WORD = re.compile(r"[^\s#]+")


def edit_text(
    text: str, *, path: Path, add: Iterable[Requirement] = (), remove: Iterable[str] = ()
) -> str:
    """Add (or replace by name) and remove package names; other lines stay as they are.

    A name sharing its line with others is removed or replaced in place; a line left with no
    name (only a comment about it) goes with it.
    """
    from jupyter_orbit.manifests._lines import Lines, missing_error

    doc = Lines.of(text)
    gone, wanted = set(remove), {r.name: r for r in add}

    def words() -> list[tuple[int, re.Match[str], str]]:
        found = []
        for i, line in enumerate(doc.lines):
            # The BOM is masked, not removed, so match positions stay those of the line.
            code = _COMMENT.sub("", doc.body(line).replace("\ufeff", " ", 1))
            for m in _WORD.finditer(code):
                found.append((i, m, m.group(0).split("=")[0].split(":")[0].lower()))
        return found

    present = {name for _, _, name in words()}
    missing = sorted(gone - present)
    if missing:
        raise missing_error(missing, path.name, path)
    for i, m, name in reversed(words()):
        body = doc.body(doc.lines[i])
        if name in gone:
            before, after = body[: m.start()], body[m.end() :]
            if not _COMMENT.sub("", after).strip() and not before.replace("\ufeff", "").strip():
                del doc.lines[i]  # the line held only this name (and maybe a comment on it)
            elif before.replace("\ufeff", "").strip():
                doc.replace(i, before.rstrip(" \t") + after)
            else:
                doc.replace(i, before + after.lstrip(" \t"))
        elif name in wanted:
            doc.replace(i, body[: m.start()] + wanted.pop(name).text + body[m.end() :])
    for req in wanted.values():
        doc.insert(doc.last_content(), req.text)
    return doc.text()
