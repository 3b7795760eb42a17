"""The plug point for file formats: one ``Manifest`` subclass per format.

A manifest reads one file into a ``Contribution``: the parts of an ``EnvSpec`` that the file
declares, each tagged with its origin. Combining contributions by precedence is ``resolve``'s job;
writing them back (round-trip) comes with the bazaar.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PEP508
from packaging.utils import canonicalize_name

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import ECOSYSTEMS, Lock, Origin, Requirement


@dataclass
class Contribution:
    """What one source declares. Empty fields mean "says nothing about it"."""

    kind: str
    path: Path | None
    rank: int = 3
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
    # still says "no packages", and wins over lower-ranked files).
    declares: set[str] = field(default_factory=set)

    def provides(self) -> tuple[str, ...]:
        """The spec fields this source sets, in the names ``orbit env`` reports."""
        fields = []
        if self.kernel:
            fields.append("kernel")
        if self.python:
            fields.append("python")
        ecosystems = self.declares | {r.ecosystem for r in self.requirements}
        fields += [f"packages.{eco}" for eco in ECOSYSTEMS if eco in ecosystems]
        for name in ("lock", "as_of", "engine"):
            if getattr(self, name):
                fields.append(name)
        return tuple(fields)


class Manifest(ABC):
    """Reads one file format. Subclasses set ``name`` and ``filenames`` and implement ``read``."""

    name: ClassVar[str]
    filenames: ClassVar[tuple[str, ...]]

    @abstractmethod
    def read(self, path: Path, *, root: Path, rank: int = 3) -> Contribution:
        """Read ``path``; ``root`` bounds any path the file refers to. Raise ``InputError``."""

    def origin(self, path: Path, line: int | None = None, rank: int = 3) -> Origin:
        return Origin(self.name, path, line, rank)


def pypi_requirement(text: str, origin: Origin | None = None) -> Requirement:
    """Parse a PEP 508 line into a normalised ``Requirement`` or raise ``InputError``.

    Normalisation keeps the meaning and drops spelling: canonical name, sorted extras, the
    specifier set as packaging prints it, and the marker.
    """
    try:
        req = PEP508(text.strip())
    except InvalidRequirement as e:
        where = origin.path if origin else None
        raise InputError(
            f"not a valid requirement: {text.strip()!r} ({str(e).splitlines()[0]})",
            "write it as PEP 508, for example 'numpy>=1.26' or 'pandas[excel]==2.2.*'",
            path=where,
            line=origin.line if origin else None,
        ) from None
    name = canonicalize_name(req.name)
    out = name
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        out += f" @ {req.url}"
    elif req.specifier:
        out += str(req.specifier)
    if req.marker:
        # PEP 508 needs whitespace between a URL and the ";" that starts its marker.
        out += f" ; {req.marker}" if req.url else f"; {req.marker}"
    return Requirement("pypi", name, out, origin)
