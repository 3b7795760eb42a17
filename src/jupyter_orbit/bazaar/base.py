"""The ecosystem plug point: one package manager Orbit speaks.

An ``Ecosystem`` searches its registry, turns what a user types into a normalised
``Requirement``, knows which native files hold its packages and edits them round-trip, locks a
list of requirements to exact versions, and installs into an environment's prefix. Engines call
``install`` with the prefix of the environment they are building, so one class serves the local
engine, containers and kernels in other languages alike.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Requirement
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import Progress


@dataclass(frozen=True)
class Hit:
    """One search result."""

    ecosystem: str
    name: str
    version: str | None = None
    summary: str = ""
    popularity: float | None = None  # 0..1 where the registry says; None where it does not
    tier: int = 9  # how well the name matches (``tier``): 0 is the exact name

    def to_dict(self) -> dict[str, Any]:
        return {
            "ecosystem": self.ecosystem,
            "name": self.name,
            "version": self.version,
            "summary": self.summary,
            "popularity": self.popularity,
            "exact": self.tier == 0,
        }


@dataclass
class Found:
    """What one ecosystem answered: hits, and whether they come from an out-of-date cache."""

    ecosystem: str
    hits: list[Hit] = field(default_factory=list)
    stale: bool = False
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def tier(name: str, query: str, *, summary: str = "") -> int:
    """How well ``name`` matches ``query`` (lower is better); both already normalised.

    0 the name itself, 1 its first word (``requests`` → ``requests-oauthlib``), 2 a prefix
    (``requestsx``), 3 another whole word, 4 anywhere in the name, 5 only in the summary.
    """
    if name == query:
        return 0
    words = re.split(r"[-_.]", name)
    if name.startswith(query) and query == "-".join(words[: query.count("-") + 1]):
        return 1
    if name.startswith(query):
        return 2
    if query in words:
        return 3
    if query in name:
        return 4
    return 5 if query in summary.lower() else 6


class Ecosystem(ABC):
    """A package manager: search, normalise, native files (read and written), lock, install."""

    name: ClassVar[str]
    # Native files this ecosystem owns, in the order ``orbit add`` prefers them.
    files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, paths: Paths, environ: Mapping[str, str] | None = None) -> None:
        self.paths = paths
        self.environ = dict(os.environ if environ is None else environ)

    @property
    def cache(self) -> Path:
        return self.paths.cache_dir / "bazaar" / self.name

    @abstractmethod
    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        """Packages whose name (or description) matches ``query``; ``prefix`` narrows names
        to one family (``r-cran-`` for R's Debian packages)."""

    @abstractmethod
    def normalise(self, text: str) -> Requirement:
        """Parse what a user typed (``numpy>=2``, ``lodash@^4``); raise ``InputError``."""

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Refuse names the registry does not have (``InputError``). Default: no check."""
        return None

    def edit(
        self,
        path: Path,
        text: str,
        *,
        add: Sequence[Requirement] = (),
        remove: Sequence[str] = (),
    ) -> str:
        """The new text of the native file ``path`` (pure: nothing is written)."""
        raise InputError(
            f"{self.name} packages cannot be written to {path.name}",
            f"use one of: {', '.join(self.files)}",
            path=path,
        )

    def owns(self, path: Path) -> bool:
        return path.name in self.files

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """Exact versions (and hashes where the ecosystem has them) as text."""
        raise InputError(f"locking {self.name} packages is not supported", None)

    def install(
        self,
        prefix: Path,
        requirements: Sequence[Requirement],
        progress: Progress,
        *,
        lock: str | None = None,
        trusted: bool = False,
    ) -> None:
        """Install into the environment at ``prefix`` (exactly ``lock`` when given)."""
        raise InputError(f"the {self.name} ecosystem cannot install into {prefix}", None)
