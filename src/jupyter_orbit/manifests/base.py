"""The plug point for file formats: one ``Manifest`` subclass per format.

A manifest reads one file into a ``Contribution``: the parts of an ``EnvSpec`` that the file
declares, each tagged with its origin (combining contributions by precedence is ``resolve``'s
job). A format that holds packages can also edit them round-trip (``edit``): ``orbit add`` writes
a package into the file a project already keeps, changing nothing else in it.

Formats are found through the ``jupyter_orbit.manifests`` entry point group (``formats``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Level, Lock, Origin, Requirement


@dataclass
class Contribution:
    """What one source declares. Empty fields mean "says nothing about it"."""

    kind: str
    path: Path | None
    level: Level = Level.PROJECT
    python: str | None = None
    requirements: list[Requirement] = field(default_factory=list)
    constraints: list[Requirement] = field(default_factory=list)
    index_options: list[str] = field(default_factory=list)
    lock: Lock | None = None
    as_of: str | None = None
    kernel: str | None = None
    engine: str | None = None
    notes: list[str] = field(default_factory=list)
    # Ecosystems the file declares even when their list is empty (an empty dependencies = []
    # still says "no packages", and wins over files of lower precedence).
    declares: set[str] = field(default_factory=set)

    def provides(self) -> tuple[str, ...]:
        """The spec fields this source sets, in the names ``orbit env`` reports."""
        fields = []
        if self.kernel:
            fields.append("kernel")
        if self.python:
            fields.append("python")
        ecosystems = self.declares | {r.ecosystem for r in self.requirements}
        fields += [f"packages.{eco}" for eco in sorted(ecosystems)]
        for name in ("lock", "as_of", "engine"):
            if getattr(self, name):
                fields.append(name)
        return tuple(fields)


class Manifest(ABC):
    """One file format. Subclasses set ``name`` (the entry point name) and ``filenames``, and
    implement ``read``; those that hold packages name their ``ecosystems`` and implement
    ``edit``."""

    name: ClassVar[str]
    filenames: ClassVar[tuple[str, ...]]
    # Its place among a project's files (repo2docker's rule: environment.yml beats Pipfile,
    # which beats requirements.txt and pyproject.toml, which are read together).
    precedence: ClassVar[int] = 100
    read_together: ClassVar[bool] = False  # read beside others of its kind (requirements.txt
    # and pyproject.toml both give PyPI packages, as repo2docker installs both)
    project_source: ClassVar[bool] = True  # read as one of a project's files
    # The ecosystems whose packages the file holds, the first being what a bare add writes.
    ecosystems: ClassVar[tuple[str, ...]] = ()
    new_text: ClassVar[str] = ""  # what a new file of this format starts as

    @abstractmethod
    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        """Read ``path``; ``root`` bounds any path the file refers to. Raise ``InputError``."""

    def python_ignored(self, present: Collection[str], *, binder: bool) -> str | None:
        """Why the Python this file declares is not used, beside the other formats
        ``present`` in its folder (``binder``: the folder is ``binder/`` or ``.binder/``);
        None when it is used. repo2docker's rules: see docs/binder-rules.md."""
        return None

    def origin(self, path: Path, line: int | None = None, level: Level = Level.PROJECT) -> Origin:
        return Origin(self.name, path, line, level)

    @classmethod
    def matches(cls, path: Path) -> bool:
        """Whether ``path`` is a file of this format (by its name)."""
        return path.name in cls.filenames

    def edit(
        self,
        path: Path,
        text: str,
        ecosystem: str,
        *,
        add: Sequence[Requirement] = (),
        remove: Sequence[str] = (),
    ) -> str:
        """The new text of ``path`` (content ``text``) with ``ecosystem``'s packages changed;
        pure: nothing is written. A format that cannot hold them refuses."""
        if not self.holds(ecosystem):
            raise self.refuse(path, ecosystem)
        return self.edit_packages(text, path, ecosystem, list(add), list(remove))

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        """Formats that hold packages implement this (round trip: nothing else changes)."""
        raise InputError(
            f"Orbit does not write {path.name} files",
            "name a requirements.txt, pyproject.toml, environment.yml, package.json or apt.txt "
            "with --file",
            path=path,
        )

    def holds(self, ecosystem: str) -> bool:
        return ecosystem in self.ecosystems

    def refuse(self, path: Path, ecosystem: str) -> InputError:
        holds = ", ".join(self.ecosystems) or "no packages"
        return InputError(
            f"{ecosystem} packages cannot be written to {path.name} (it holds {holds})",
            "name another file with --file, or leave --file out",
            path=path,
        )
