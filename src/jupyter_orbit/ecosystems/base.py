"""The ecosystem plug point: one package manager Orbit speaks.

An ``Ecosystem`` owns everything about its kind of package: how a requirement is written and
matched (``parse``, ``key``), which native files hold its packages (``files``), searching and
checking its registry, locking, and installing — into a local environment's prefix
(``local_steps``) and into a kernel image (``image_stage``). Nothing outside the ecosystem
classes branches on an ecosystem's name: engines, manifests and the bazaar loop over the
ecosystems of a spec and ask each.

Orbit's own ecosystems and other packages' are found through the ``jupyter_orbit.ecosystems``
entry point group (``jupyter_orbit.plugins``); ``ecosystems.get_ecosystem`` looks one up.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import COMMAND_LINE, EnvSpec, Origin, Requirement, Step
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
    partial: bool = False  # not every name was searched (an index still loading)


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


@dataclass
class Prefix:
    """A local environment being built: what an ecosystem's steps install into.

    ``path`` is the folder being built; ``final`` where it will live once complete (paths written
    into files must name it); ``python`` its interpreter once the venv exists.
    """

    paths: Paths
    spec: EnvSpec
    path: Path
    final: Path
    python: Path
    base_python: Path
    progress: Progress
    trusted: bool = False  # the project is trusted to run its packages' install scripts
    facts: dict[str, Any] = field(default_factory=dict)  # what steps learned, for the record

    @property
    def meta(self) -> Path:
        """Orbit's own files inside the environment (inputs, the lock)."""
        return self.path / "orbit"


@dataclass(frozen=True)
class ImageStage:
    """What an ecosystem adds to a kernel image: a build stage, then either the stage itself is
    the image from then on (``copies`` is None: installed in place, as apt does) or what it made
    is copied onto the image (``copies``: COPY --from lines, so build tools stay out).

    ``files`` are written into the build context; ``after`` names the stage holding the copy
    when another stage follows.
    """

    name: str
    files: tuple[tuple[str, bytes], ...]
    build: tuple[str, ...]
    copies: tuple[str, ...] | None = None
    after: str | None = None


@dataclass(frozen=True)
class Service:
    """A service a notebook's kernels run beside (a database, a cache), in Compose's service
    syntax: ``config`` is its definition as canonical JSON, so services compare and hash by
    what they are."""

    ecosystem: str
    name: str
    config: str
    origin: Origin | None = field(default=None, compare=False, hash=False)

    @classmethod
    def of(
        cls, ecosystem: str, name: str, definition: Mapping[str, Any], origin: Origin | None = None
    ) -> Service:
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
        return cls(ecosystem, name, text, origin)

    @property
    def definition(self) -> dict[str, Any]:
        return json.loads(self.config)


@dataclass
class Services:
    """The services one source (a compose file, or a notebook that carries them) declares.

    ``folder`` names the project they belong to (kernels of notebooks under it share them);
    relative host paths start at ``base`` (the source's folder) and must stay inside ``root``.
    ``key`` is how the source spells the services' place (``services``,
    ``metadata.orbit.services``) and ``line_of`` finds the line of a key path in it.
    """

    ecosystem: str
    services: tuple[Service, ...]
    source: Path
    folder: Path
    root: Path
    base: Path
    volumes: dict[str, Any] = field(default_factory=dict)  # top-level named volumes
    key: str = "services"
    line_of: Callable[[str], int | None] = field(default=lambda _key: None, repr=False)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceImage:
    """A service's image built from Debian packages, for when no registry serves the image its
    definition names (``replaces``). Rendered by ``engines.dockerfile.render_service``, tagged
    ``orbit-service-NAME:VERSION-DIGEST``."""

    name: str
    version: str
    replaces: str
    packages: tuple[str, ...]
    before: tuple[str, ...] = ()  # shell commands before the packages are installed
    after: tuple[str, ...] = ()  # and after
    files: tuple[tuple[str, bytes], ...] = ()  # executables for /usr/local/bin
    env: tuple[tuple[str, str], ...] = ()
    user: str = ""
    workdir: str = ""
    volume: str | None = None  # the data folder (made by ``after``, owned by ``user``)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class InstallStep(Step):
    """Install an ecosystem's packages into a local environment (its ``install``)."""

    ecosystem: str = ""
    requirements: tuple[Requirement, ...] = ()

    @property
    def action(self) -> str:
        return self.ecosystem

    def run(self, build: Prefix) -> None:
        from jupyter_orbit.ecosystems import get_ecosystem

        eco = get_ecosystem(self.ecosystem, build.paths)
        eco.install(build, self.requirements)


class Ecosystem(ABC):
    """A package manager: requirements, native files, registry, locks and installs."""

    name: ClassVar[str]
    display_name: ClassVar[str] = ""  # how people call it: "PyPI", "Debian"
    # Native files holding its packages, in the order ``orbit add`` prefers them; ``new_file``
    # is the one a project gets when it has none.
    files: ClassVar[tuple[str, ...]] = ()
    new_file: ClassVar[str | None] = None
    # Where its packages go relative to other ecosystems' (system packages first).
    order: ClassVar[int] = 50
    # Whether Orbit installs its packages into a local environment (Debian's are only checked).
    installed_locally: ClassVar[bool] = True
    # Whether a spec's index options and lock are this ecosystem's (they go with the source
    # that declares its packages).
    spec_options: ClassVar[bool] = False
    # What to check when installing its packages failed (the build error's hint).
    check_hint: ClassVar[str] = "check the package names and versions where they are declared"

    def __init__(self, paths: Paths, environ: Mapping[str, str] | None = None) -> None:
        self.paths = paths
        self.environ = dict(os.environ if environ is None else environ)

    @property
    def cache(self) -> Path:
        return self.paths.cache_dir / "bazaar" / self.name

    # -- requirements (no registry, no I/O) ----------------------------------------------------

    @classmethod
    @abstractmethod
    def parse(cls, text: str, origin: Origin | None = None) -> Requirement:
        """One requirement as written in a file or typed, normalised so equal meaning compares
        equal; ``InputError`` naming ``origin``'s file and line when it is not valid."""

    @classmethod
    def parse_declared(cls, text: str, origin: Origin) -> Requirement:
        """A requirement as a notebook's ``metadata.orbit.packages`` keeps it (by default as
        ``parse`` reads it)."""
        return cls.parse(text, origin)

    @classmethod
    def key(cls, text: str) -> str:
        """The name a written requirement is matched by when editing lists."""
        try:
            return cls.parse(text).name
        except InputError:
            return text.strip().lower()

    @classmethod
    def changes_source(cls, requirement: Requirement) -> bool:
        """True when the requirement fetches from somewhere other than the registry (a URL)."""
        return False

    def normalise(self, text: str) -> Requirement:
        """What a user typed on the command line."""
        return self.parse(text, COMMAND_LINE)

    # -- the registry ------------------------------------------------------------------------

    @abstractmethod
    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        """Packages whose name (or description) matches ``query``; ``prefix`` narrows names
        to one family (``r-cran-`` for R's Debian packages)."""

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Refuse names the registry does not have (``InputError``). Default: no check."""
        return None

    def check_spec(
        self, spec: EnvSpec, added: Sequence[Requirement]
    ) -> tuple[list[str], list[str]]:
        """Before ``orbit add`` writes anything: can ``spec`` (with ``added`` new) be installed?
        Returns the exact versions it would install, where the ecosystem can tell without
        installing, and notes; refuses (``InputError``) what cannot work. By default the
        registry is asked about the new names."""
        if added:
            self.check(added)
        return [], []

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """Exact versions (and hashes where the ecosystem has them) as text."""
        raise InputError(f"locking {self.name} packages is not supported", None)

    # -- building ------------------------------------------------------------------------------

    def local_steps(self, spec: EnvSpec) -> list[Step]:
        """The steps that put ``spec``'s packages of this ecosystem into a local environment."""
        reqs = spec.packages(self.name)
        return [InstallStep(names_of(reqs), self.name, reqs)]

    def local_warnings(self, spec: EnvSpec) -> list[str]:
        """What a local environment cannot honour of ``spec``'s packages of this ecosystem."""
        return []

    def install(self, prefix: Prefix, requirements: Sequence[Requirement]) -> None:
        """Install ``requirements`` into the environment being built at ``prefix``."""
        raise InputError(f"the {self.name} ecosystem cannot install into {prefix.path}", None)

    def kernel_env(self, location: Path, environ: Mapping[str, str]) -> dict[str, str]:
        """Variables a kernel needs to use what this ecosystem installed into the local
        environment at ``location`` (``environ``: the variables it has so far)."""
        return {}

    @classmethod
    def image_stage(cls, spec: EnvSpec, constraints: Sequence[str] = ()) -> ImageStage | None:
        """The build stage that installs ``spec``'s packages of this ecosystem into a kernel
        image; None when images cannot hold them (the engine then says so)."""
        return None

    # -- beside the kernel (services) --------------------------------------------------------
    # An ecosystem whose "packages" are services (a database, a cache) runs them beside a
    # notebook's kernels instead of installing them into its environment: the launch starts
    # them (``beside``), and each kernel gets the variables that reach them.

    runs_beside: ClassVar[bool] = False

    def services(
        self, folder: Path, root: Path, notebook: Path | None, orbit: Mapping[str, Any] | None
    ) -> Services | None:
        """The services a kernel started in ``folder`` (inside the project ``root``; for
        ``notebook``, whose ``metadata.orbit`` is ``orbit``) runs beside, as this ecosystem
        declares them in its files; None when it declares none. Reads, changes nothing."""
        return None

    def kernel_variables(
        self, service: Service, host: str, ports: Mapping[int, int]
    ) -> dict[str, str]:
        """The variables a kernel gets to reach ``service`` at ``host``; ``ports`` maps the
        service's own ports to the ones the kernel reaches them on."""
        return {}

    def service_image(self, service: Service) -> ServiceImage | None:
        """How to build ``service``'s image from Debian packages when no registry serves it;
        None when this ecosystem cannot."""
        return None

    def edit_notebook(
        self,
        orbit: dict[str, Any],
        path: Path,
        *,
        add: Sequence[Requirement],
        remove: Sequence[str],
        root: Path,
    ) -> bool:
        """Change this ecosystem's entries in a notebook's ``metadata.orbit`` (``orbit``, a
        plain dict, edited in place) when it keeps them under a key of its own, and return
        True; False (the default): they are a list in ``metadata.orbit.packages``, which the
        bazaar edits."""
        return False


def names_of(requirements: Sequence[Requirement], limit: int = 8) -> str:
    """``a, b, c and 3 more``: requirement names for messages and plans."""
    shown = [r.name for r in requirements][:limit]
    more = len(requirements) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") if shown else "none"
