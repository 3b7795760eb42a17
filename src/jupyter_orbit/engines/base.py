"""The engine plug point: plan (pure: typed steps) then realise (the same steps, run in order).

Engines are found through the ``jupyter_orbit.engines`` entry point group, Orbit's own (local,
docker) included. An engine name may carry a target after a colon (``ssh:lab``): the engine
class is looked up by the part before it and gets the rest as ``target``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from jupyter_orbit.errors import InputError

if TYPE_CHECKING:
    from jupyter_orbit.hardware.fit import Fit
    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.model import Environment, EnvSpec, Plan, Resolution
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress


@dataclass(frozen=True)
class Launch:
    """What a kernel is started for: its notebook, the folder it may use, what the user allowed."""

    notebook: Path | None = None
    project_root: Path | None = None
    allow_host_access: bool = False  # container options that reach into the host (explicit flag)
    # Services beside the kernel (``jupyter_orbit.beside``): the networks they are on, and the
    # variables that reach them (an engine that runs kernels elsewhere passes these names on).
    networks: tuple[str, ...] = ()
    pass_env: tuple[str, ...] = ()
    hardware: Fit | None = None  # the devices the notebook declares, as found here
    # Host folders the kernel reads (its data sets: ``jupyter_orbit.data.kernel``), which an
    # engine that runs kernels elsewhere shows it read-only at the same paths.
    read_only: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Stored:
    """Something an engine keeps for this data root: a built environment, or what a build
    left behind (``leftover``)."""

    env_id: str
    location: str  # a folder, or an image reference
    size: int  # bytes it takes (files shared with uv's cache or other environments included)
    frees: int  # bytes removing it gives back
    created: str | None = None  # ISO time
    leftover: bool = False


class Engine(ABC):
    """Realises specs as environments, content-addressed by the spec's hash."""

    name: ClassVar[str]
    takes_target: ClassVar[bool] = False  # ``name:TARGET`` (a host, a gateway URL)
    stores: ClassVar[str] = "environment"  # what ``orbit envs`` calls what it keeps
    # Whether its kernels join the network of the services beside them and reach each by its
    # name (kernels in containers); otherwise they reach the ports published on 127.0.0.1.
    joins_service_network: ClassVar[bool] = False
    # Fitting to the notebook's time (``jupyter_orbit.era``): the engine builds with this
    # machine's Pythons, so one can be chosen to fit the notebook (``chooses_python``); it
    # resolves PyPI packages with uv here, so the kernel's own are dated (``dates_kernel``).
    chooses_python: ClassVar[bool] = False
    dates_kernel: ClassVar[bool] = False
    # Whether a server may start kernels of this engine ahead of need (the warm pool); not
    # for kernels that hold resources elsewhere (a remote host, a gateway).
    warm_kernels: ClassVar[bool] = True
    # Whether its kernel is a process of this machine that ``orbit run`` may start from the
    # notebook's last run before the pipeline has confirmed it (``jupyter_orbit.prestart``).
    starts_ahead: ClassVar[bool] = False
    label: ClassVar[str] = ""  # where its kernels run, as a menu says it ("this machine")

    def __init__(self, paths: Paths, target: str | None = None) -> None:
        self.paths = paths
        if target and not self.takes_target:
            raise InputError(
                f"the {self.name} engine takes no target ({self.name}:{target})",
                f"write just {self.name!r}",
            )
        self.target = target

    @classmethod
    def offers(cls, paths: Paths) -> list[tuple[str, str]]:
        """The choices of this engine a menu shows, as (engine id, label): the engine itself
        when it takes no target; engines with targets list the ones the user set up."""
        return [] if cls.takes_target else [(cls.name, cls.label or cls.name)]

    @property
    def id(self) -> str:
        """The engine as notebooks and environments name it: ``local``, ``ssh:lab``."""
        return f"{self.name}:{self.target}" if self.target else self.name

    @abstractmethod
    def lookup_id(self, env_id: str) -> Environment | None:
        """The complete environment with this id if it is built, else None. Cheap."""

    def lookup(self, spec: EnvSpec) -> Environment | None:
        return self.lookup_id(spec.env_id)

    @abstractmethod
    def plan(self, spec: EnvSpec) -> Plan:
        """What ``realize`` would do. Reads the disk, changes nothing."""

    @abstractmethod
    def realize(self, plan: Plan, progress: Progress) -> Environment:
        """Carry out ``plan``; concurrent calls for one spec build it once."""

    @abstractmethod
    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        """The command that starts ``recipe``'s kernel inside ``env``."""

    def kernel_command(self, env: Environment, recipe: KernelRecipe, launch: Launch) -> list[str]:
        """The command a kernel manager runs to start the kernel for ``launch``.

        Engines that run kernels elsewhere (a container) return a command that does so and lives
        as long as the kernel; by default it is the kernel itself.
        """
        return self.kernel_argv(env, recipe)

    def check_available(self) -> None:
        """Raise an ``OrbitError`` saying how to fix it if this engine cannot work here."""
        return None

    def check_launch(self, launch: Launch) -> None:
        """Refuse, before anything is built, what ``launch`` asks of this engine that it will
        not do (``kernel_command`` refuses it too). By default nothing is refused."""
        return None

    def adapt(self, res: Resolution) -> Resolution:
        """``res`` as this engine realises it (e.g. the profile's default Python swapped for the
        one the engine provides). By default unchanged."""
        return res

    def cleanup(self) -> int:
        """Remove what kernels of processes that are gone left behind; called when a server
        starts. Returns how many things were removed."""
        return 0

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        """Variables ``recipe``'s kernel needs inside ``env`` beyond the server's own."""
        return recipe.kernel_env(env.location)

    def stored(self) -> list[Stored]:
        """What this engine keeps on disk for this data root (``orbit envs``, ``orbit gc``).
        Engines that keep nothing here list nothing."""
        return []

    def in_use(self, items: list[Stored]) -> dict[str, str]:
        """Of ``items``, those a running process uses: location → who (never removed)."""
        return {}

    def remove(self, item: Stored) -> None:
        """Remove ``item`` (one ``stored`` listed); an environment that is being built or
        used meanwhile is left alone (an ``OrbitError`` says so)."""
        raise NotImplementedError(f"the {self.name} engine keeps nothing it could remove")

    def pins(self, plan: Plan) -> list[str]:
        """The exact versions ``plan`` would install, resolved without installing anything."""
        raise NotImplementedError(f"the {self.name} engine cannot resolve without building")

    def ensure(self, spec: EnvSpec, progress: Progress) -> Environment:
        return self.lookup(spec) or self.realize(self.plan(spec), progress)


def engine_classes() -> dict[str, type[Engine]]:
    from jupyter_orbit.plugins import ENGINES

    return ENGINES.classes()


def engine_offers(paths: Paths) -> list[tuple[str, str]]:
    """Every place a kernel can run, as (engine id, label), for menus: each engine's offers; an
    engine whose offers cannot be read (a broken settings file) is left out and logged."""
    import logging

    out: list[tuple[str, str]] = []
    for cls in engine_classes().values():
        try:
            out += cls.offers(paths)
        except Exception as e:  # a plug-in's failure must not take the menu down
            logging.getLogger(__name__).warning("Orbit: the %s engine's choices: %s", cls.name, e)
    return out


def engine_name(res: Resolution, *, override: str | None = None, default: str = "local") -> str:
    """The engine for ``res``: the command line's, else the one its sources name, else ``default``
    (the profile's server may default to another engine than ``local``)."""
    if override:
        return override
    if any("engine" in s.provides for s in res.sources):
        return res.engine
    return default


def get_engine(name: str, paths: Paths) -> Engine:
    """The engine ``name`` (``kind`` or ``kind:target``); an unknown kind lists the valid ones."""
    from jupyter_orbit.plugins import ENGINES

    kind, _, target = name.partition(":")
    return ENGINES.load(kind)(paths, target or None)
