"""The one way from a notebook (or a folder) to its kernel.

Every caller — ``orbit run``, ``orbit env``, the bazaar's commands, the server's kernel
provisioner, the launcher's menu, the warm-kernel pool and the hub — goes through ``prepare``,
which runs these stages in order and stops after the one the caller needs (``until``):

``resolve``
    read the notebook and its project (``resolve``), settle the date it is resolved as of,
    choose the engine (command line > the notebook's sources > the profile's default) and let
    it adapt the spec; check ``--locked``.
``lookup``
    refuse package indexes the user's configuration does not have (``indexes``) and what the
    launch asks of the engine that it will not do (before anything is looked up or built),
    and find the environment if it is built.
``plan``
    the engine's plan: typed steps (what ``--dry-run`` prints), and the warnings to show.
``build``
    the kernel's system requirements; consent (the same rule from the terminal and the
    server: nothing a notebook declares is installed unless the user said yes, trusted the
    project, or answers yes when asked); then the engine carries out the plan.
``launch``
    the command that starts the kernel in the environment and the variables it needs.

So a notebook run from the terminal and opened in JupyterLab gets the same environment id,
the same warnings and the same consent decision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from jupyter_orbit import asof, era, indexes, usage
from jupyter_orbit.engines.base import Engine, Launch, engine_name, get_engine
from jupyter_orbit.errors import OrbitError, TrustError
from jupyter_orbit.hardware.fit import Fit, Hardware, fit
from jupyter_orbit.indexes import IndexPolicy
from jupyter_orbit.kernels.recipes import KernelRecipe, get_recipe
from jupyter_orbit.model import Environment, EnvSpec, Plan, Resolution
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress, Progress, announce_plan

Stage = Literal["resolve", "lookup", "plan", "build", "launch"]
STAGES: tuple[Stage, ...] = ("resolve", "lookup", "plan", "build", "launch")
# Asked when the user could answer (a terminal): what the notebook declares; True to install.
Ask = Callable[[Resolution, list[str]], bool]


@dataclass(frozen=True)
class Consent:
    """Who may allow installing what a notebook or its project declares.

    ``yes``: the user allowed it for this run (``--yes``); ``trusted_folders``: a folder the
    user trusted (``orbit trust``, ``orbit up PATH``) counts; ``ask``: the user can be asked now.
    """

    yes: bool = False
    trusted_folders: bool = True
    ask: Ask | None = None

    def check(
        self,
        paths: Paths,
        res: Resolution,
        *,
        wanted: list[str] | None = None,
        doing: str = "installing",
    ) -> None:
        """Raise ``TrustError`` unless installing what ``res`` declares is allowed (or, with
        ``wanted``, ``doing`` those: starting the services it declares)."""
        from jupyter_orbit.trust import UNTRUSTED, TrustStore

        wanted = declared(res) if wanted is None else wanted
        if not wanted or self.yes:
            return
        store = TrustStore(paths.trust_file)
        here = res.notebook.parent if res.notebook else res.target
        # the project and the notebook's own folder (no repository cloned into a trusted one)
        why = store.why_not(res.project_root) or store.why_not(here)
        if self.trusted_folders and why is None:
            return
        if self.ask is not None and self.ask(res, wanted):
            return
        where = res.notebook or res.target
        raise TrustError(
            f"{where} is outside a trusted project; not {doing} what it declares "
            f"({', '.join(wanted[:4])}{' …' if len(wanted) > 4 else ''})"
            + (f" ({why})" if why not in (None, UNTRUSTED) and self.trusted_folders else ""),
            f"trust the project with `orbit trust {res.project_root}` (then restart the kernel), "
            "or run it once with `orbit run --yes`",
        )


# Never installs what a notebook declares (prewarming ahead of any request).
NO_CONSENT = Consent(trusted_folders=False)


@dataclass(frozen=True)
class Choices:
    """What the caller decided for this launch (everything else comes from the sources)."""

    kernel: str | None = None  # the recipe (a launcher card, a kernelspec's provisioner)
    python: str | None = None  # --python
    engine: str | None = None  # --engine: replaces what the notebook's sources say
    default_engine: str = "local"  # the profile's, for notebooks whose sources name none
    as_of: str | None = None  # --as-of
    root: Path | None = None  # the project root by setting (the server's root folder)
    locked: bool = False  # --locked: a lock that fits the spec is required
    allow_host_access: bool = False  # container options that reach the host (explicit flag)
    consent: Consent = field(default_factory=Consent)
    services: str | None = None  # the profile's defaults.services (None: the default profile's)
    hardware: Hardware = field(default_factory=Hardware)  # the profile's [hardware]; the machine
    # Where packages may come from (the profile's allowed indexes); None: the default profile's.
    indexes: IndexPolicy | None = None
    # The clock: what "now" is for undated notebooks and for the kernel's packages' cool-down
    # (``ORBIT_NOW`` fixes it, read here at the edge), and the profile's cool-down in days.
    now: datetime = field(default_factory=asof.clock)
    cooldown_days: int = era.COOLDOWN_DAYS


@dataclass
class Prepared:
    """Everything a launch needs, as far as the stages ran."""

    resolution: Resolution
    engine: Engine
    recipe: KernelRecipe
    launch: Launch
    environment: Environment | None = None
    plan: Plan | None = None
    warnings: tuple[str, ...] = ()
    built: bool = False  # built by this call
    argv: list[str] = field(default_factory=list)
    kernel_env: dict[str, str] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)  # started beside the kernel
    hardware: Fit | None = None  # the notebook's hardware, held against this machine (lookup)

    @property
    def spec(self) -> EnvSpec:
        return self.resolution.spec

    @property
    def env_id(self) -> str:
        return self.resolution.spec.env_id


def declared(res: Resolution) -> list[str]:
    """What the notebook or project itself asks to install (not the kernel's own packages),
    and the options that change where packages come from: what consent is asked for."""
    wanted = [f"{r.ecosystem}:{r.text}" for r in res.spec.declared()]
    return wanted + [f"source option: {s}" for s in res.source_changing]


def prepare(
    target: Path,
    choices: Choices,
    paths: Paths,
    *,
    progress: Progress | None = None,
    until: Stage = "launch",
) -> Prepared:
    """Run the stages for ``target`` up to ``until`` (see the module's doc)."""
    from jupyter_orbit.notebook_dates import NotebookDates
    from jupyter_orbit.pythons import default_python
    from jupyter_orbit.resolve import resolve

    progress = progress or NullProgress()
    last = STAGES.index(until)
    res = resolve(
        target,
        root=choices.root,
        python=choices.python,
        kernel=choices.kernel,
        default_python=default_python(),
        as_of=choices.as_of,
        now=choices.now,
        recall=recall_now(paths),
        remembered=NotebookDates(paths.notebook_dates_dir).recall,
    )
    unfitted = res  # what "now" is remembered by (read before the fit, in ``resolve``)
    if choices.locked:
        from jupyter_orbit.ecosystems.lockfile import check_locked

        check_locked(res.spec, res.notebook or res.target)
    engine = get_engine(
        engine_name(res, override=choices.engine, default=choices.default_engine), paths
    )
    res = engine.adapt(res)
    if res.engine != engine.id:
        res = dataclasses.replace(res, engine=engine.id)
    # Only the package sources the user's configuration allows, before anything asks an index
    # (fitting to the date resolves with uv).
    indexes.check(res, choices.indexes, paths)
    if engine.dates_kernel or engine.chooses_python:
        res = era.fit(
            res,
            paths,
            choose=engine.chooses_python,
            now=choices.now,
            cooldown_days=choices.cooldown_days,
            progress=progress,
        )
    recipe = get_recipe(res.spec.kernel)
    launch = Launch(res.notebook, choices.root or res.project_root, choices.allow_host_access)
    out = Prepared(res, engine, recipe, launch, warnings=_warnings(res))
    if last < STAGES.index("lookup"):
        return out
    # The hardware the notebook declares, and the build of torch/jax it leads to (part of the
    # environment's id); a machine without it is refused here, before anything is built.
    out.hardware = fit(res, choices.hardware)
    res = out.resolution = out.hardware.apply(res)
    out.launch = launch = dataclasses.replace(launch, hardware=out.hardware)
    out.hardware.check()
    # refuse what the notebook may not ask for, before anything is looked up or built
    engine.check_launch(launch)
    out.environment = engine.lookup(res.spec)
    if last < STAGES.index("plan"):
        return out
    try:
        out.plan = engine.plan(res.spec)
    except OrbitError as err:
        raise _explain(err, res, engine, choices, paths) from None
    out.warnings = (*out.plan.warnings, *out.warnings)
    if last < STAGES.index("build"):
        return out
    recipe.check_system()
    if out.environment is None:
        choices.consent.check(paths, res)
        progress.step("as-of", asof.describe(res))
        for warning in out.warnings:
            progress.warn(warning)
        announce_plan(progress, out.plan.steps)  # so watchers can say "step n of m"
        try:
            out.environment = engine.realize(out.plan, progress)
        except OrbitError as err:
            raise _explain(err, res, engine, choices, paths) from None
        out.built = True
        remember_now(paths, unfitted, res.spec.as_of, out.environment)
    if last < STAGES.index("launch"):
        return out
    out.argv = engine.kernel_command(out.environment, recipe, launch)
    out.kernel_env = {**engine.kernel_env(out.environment, recipe), **out.hardware.kernel_env()}
    with contextlib.suppress(OSError):  # only what `orbit envs` shows and `orbit gc` goes by
        usage.record(paths, engine.id, out.environment.env_id, res.notebook)
    from jupyter_orbit.beside import attach

    attach(out, choices, paths, progress)  # the services its kernels run beside, if any
    return out


def _explain(
    err: OrbitError, res: Resolution, engine: Engine, choices: Choices, paths: Paths
) -> OrbitError:
    """A failure told with its date, and a Python that would work when one was declared."""
    from jupyter_orbit.errors import BuildError

    python = None
    if isinstance(err, BuildError) and engine.chooses_python and res.spec.as_of:
        python = era.suggest(res, paths, now=choices.now, cooldown_days=choices.cooldown_days)
    return asof.explain(err, res, cache=paths.cache_dir, python=python)


def _warnings(res: Resolution) -> tuple[str, ...]:
    return tuple(
        f"packages may come from somewhere other than the registry: {item}"
        for item in res.source_changing
    )


# -- "now" remembered per requirements --------------------------------------------------------
# A notebook with no stamp, lock or git date is resolved as of today; the day after, it would get
# a new environment for nothing. The date of the environment last built for the very same
# requirements is reused as long as that environment exists.


def _now_file(paths: Paths, engine: str, res: Resolution) -> Path:
    return paths.envs_dir(engine.split(":")[0]) / ".as-of-now" / asof.dateless_id(res.spec)


def recall_now(paths: Paths) -> asof.Recall:
    """The date remembered for these requirements, while the environment built with it (by
    the engine named beside it) still exists."""

    def recall(res: Resolution) -> str | None:
        try:
            date, engine_id, env_id = _now_file(paths, res.engine, res).read_text().split()
            engine = get_engine(engine_id, paths)
        except (OSError, OrbitError, ValueError):
            return None
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", date):
            return None
        return date if engine.lookup_id(env_id) else None

    return recall


def remember_now(
    paths: Paths, res: Resolution, as_of: str | None, env: Environment | None = None
) -> None:
    """Remember ``as_of`` for ``res`` (as read, before the engine adapted it and the era fit),
    with the environment built for it."""
    from jupyter_orbit import atomic

    if as_of is None or env is None:
        return
    source, detail = res.as_of_source, res.as_of_detail.lower()
    if source == asof.NOW or (source == asof.CLI and "now" in detail):
        with contextlib.suppress(OSError):  # only an optimisation: the next "now" is today
            text = f"{as_of} {env.engine} {env.env_id}\n"
            atomic.write_text(_now_file(paths, res.engine, res), text)
