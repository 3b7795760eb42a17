"""The engine plug point: plan (pure) then realise (with progress)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from jupyter_orbit.errors import InputError

if TYPE_CHECKING:
    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.model import Environment, EnvSpec, Plan
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress


class Engine(ABC):
    """Realises specs as environments, content-addressed by the spec's hash."""

    name: ClassVar[str]

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

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

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        """Variables ``recipe``'s kernel needs inside ``env`` beyond the server's own."""
        return recipe.kernel_env(env.location)

    def pins(self, plan: Plan) -> list[str]:
        """The exact versions ``plan`` would install, resolved without installing anything."""
        raise NotImplementedError(f"the {self.name} engine cannot resolve without building")

    def ensure(self, spec: EnvSpec, progress: Progress) -> Environment:
        return self.lookup(spec) or self.realize(self.plan(spec), progress)


def engine_classes() -> dict[str, type[Engine]]:
    from jupyter_orbit.engines.local import LocalEngine

    return {LocalEngine.name: LocalEngine}


def get_engine(name: str, paths: Paths) -> Engine:
    classes = engine_classes()
    if name not in classes:
        raise InputError(f"unknown engine {name!r}", f"use one of: {', '.join(sorted(classes))}")
    return classes[name](paths)
