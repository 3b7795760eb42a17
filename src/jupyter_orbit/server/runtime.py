"""Orbit's state inside the server process: environments per notebook, warm kernels, status.

The server extension creates one ``OrbitRuntime`` when it loads; the kernel provisioner and the
REST handlers reach it through ``current()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from jupyter_orbit import asof, atomic
from jupyter_orbit.engines.base import engine_classes
from jupyter_orbit.hardware.fit import Hardware
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.model import Resolution
from jupyter_orbit.notebook_dates import NotebookDates
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.prepare import NO_CONSENT, Choices, Prepared, prepare
from jupyter_orbit.progress import FanOutProgress, LogProgress, Progress
from jupyter_orbit.server.builds import Builds
from jupyter_orbit.server.pool import KernelPool, WarmTarget
from jupyter_orbit.server.recent_opens import RecentOpens
from jupyter_orbit.server.spares import Spares
from jupyter_orbit.trust import TrustStore

_current: OrbitRuntime | None = None


def current() -> OrbitRuntime | None:
    return _current


def install(runtime: OrbitRuntime | None) -> None:
    global _current
    _current = runtime


class OrbitRuntime:
    def __init__(
        self,
        *,
        paths: Paths,
        profile: ProfilePaths,
        root_dir: Path,
        kernel_env: dict[str, str],
        log: logging.Logger,
        pool_per_env: int = 1,
        pool_max_envs: int = 3,
        pool_memory_mb: int | None = None,
        hot_add_spares: int = 1,
        default_engine: str = "local",
        allow_host_access: bool = False,
    ) -> None:
        self.paths = paths
        self.default_engine = default_engine  # for notebooks whose sources name none
        self.allow_host_access = allow_host_access  # the user's --allow-host-access
        self.profile = profile
        self.root_dir = root_dir
        self.log = log
        self.trust = TrustStore(paths.trust_file)
        self.kernels: dict[str, dict] = {}
        self.pool = KernelPool(
            cwd=root_dir,
            env=kernel_env,
            per_env=pool_per_env,
            max_envs=pool_max_envs,
            budget_mb=pool_memory_mb,
            log=log,
        )
        # Clones of running kernels' environments, ready for hot add.
        self.spares = Spares(self.pool, limit=hot_add_spares, log=log)
        # The environments recently opened under each root, warmed after a restart.
        self.recent = RecentOpens(profile.root / "recent-opens.json")
        # The dates detected for notebooks, kept in Orbit's state: the notebooks stay untouched.
        self.dates = NotebookDates(paths.notebook_dates_dir)
        self._projects_file = profile.root / "recent-projects.json"
        # Who wants to see the steps of preparing a notebook's kernel (the launcher page).
        self._watchers: dict[Path, list[Progress]] = {}
        # Each notebook's latest kernel preparation, followed from JupyterLab (server/builds.py).
        self.builds = Builds(root_dir)
        self._background: set[asyncio.Task] = set()
        self.launcher_visits = 0  # how often the launcher page was served
        self.offline = None  # the installed bundles' stand-in registries, while they run
        self._stand_ins = None

    @contextlib.contextmanager
    def watch(self, notebook: Path, progress: Progress) -> Iterator[None]:
        """Send the steps of preparing ``notebook``'s kernel to ``progress`` as well."""
        key = notebook.resolve()
        self._watchers.setdefault(key, []).append(progress)
        try:
            yield
        finally:
            self._watchers[key].remove(progress)
            if not self._watchers[key]:
                del self._watchers[key]

    def choices(self, kernel: str | None = None) -> Choices:
        """What this server decides for every launch: its root, its default engine, the host
        access the user allowed when starting it."""
        from jupyter_orbit.settings import cooldown_days

        return Choices(
            kernel=kernel,
            default_engine=self.default_engine,
            root=self.root_dir,
            allow_host_access=self.allow_host_access,
            hardware=Hardware.of_profile(self.profile),  # its [hardware] settings, this machine
            offline=self.offline,
            cooldown_days=cooldown_days(self.profile.settings_file),
        )

    def serve_bundles(self) -> None:
        """Start the stand-in registries of the installed bundles (none: nothing), with the
        server; builds and kernels then install from them (``jupyter_orbit.offline``)."""
        from jupyter_orbit.bundle import serve

        stand = serve.StandIns(self.paths, self.profile.runtime_dir / "registries")
        try:
            self.offline = stand.start(LogProgress(self.log, prefix="Orbit [bundles] "))
        except Exception as e:  # the server still starts; builds then say what they lack
            self.log.error("Orbit: the installed bundles cannot be served: %s", e)
            return
        if self.offline is not None:
            self._stand_ins = stand
            serve.record(self.profile, self.offline)
            self.log.info("Orbit: installing from the bundles: %s", self.offline.to_json())

    def stop_bundles(self) -> None:
        from jupyter_orbit.bundle import serve

        if self._stand_ins is not None:
            self._stand_ins.stop()
            serve.unrecord(self.profile)
            self._stand_ins = self.offline = None

    async def prepare(self, target: Path, *, kernel: str | None = None) -> Prepared:
        """Resolve ``target``'s environment, build it if needed, and return what its kernel
        needs (the one pipeline, as ``orbit run`` runs it); steps go to the server's log and
        to whoever watches ``target`` (the launcher page)."""
        watchers = FanOutProgress(*self._watchers.get(target.resolve(), ()))
        watchers.step("resolve", f"reading what {target.name} and its project declare")
        log = LogProgress(self.log, prefix=f"Orbit [{target.name}] ")
        prepared = await asyncio.to_thread(
            prepare,
            target,
            self.choices(kernel),
            self.paths,
            progress=FanOutProgress(log, watchers),
        )
        res = prepared.resolution
        if not prepared.built:
            watchers.step("reuse", f"environment {prepared.env_id} is built")
            for warning in prepared.warnings:
                log.warn(warning)
        if res.notebook is not None:
            await asyncio.to_thread(self._note_project, res)
        await asyncio.to_thread(self._remember_date, res)
        return prepared

    def _remember_date(self, res: Resolution) -> None:
        try:
            if self.dates.remember(res):
                self.log.info("Orbit: %s is resolved as of %s", res.notebook, asof.describe(res))
        except OSError as e:  # only a convenience: the next open detects the date again
            self.log.warning("Orbit: could not remember the date of %s: %s", res.notebook, e)

    async def reap_orphans(self) -> None:
        """Remove what kernels of gone processes left behind (containers), engine by engine."""
        for cls in engine_classes().values():
            try:
                removed = await asyncio.to_thread(cls(self.paths).cleanup)
            except Exception as e:  # never keep the server from starting
                self.log.warning("Orbit: cleaning up after %s kernels failed: %s", cls.name, e)
                continue
            if removed:
                self.log.info("Orbit: removed %d orphaned %s kernel(s)", removed, cls.name)

    def warm_target(self, prepared: Prepared, argv: list[str] | None = None) -> WarmTarget:
        """What keeps kernels of ``prepared``'s environment warm (``argv``: another command
        than the prepared one, e.g. a grown environment's)."""
        recipe = prepared.recipe
        declared = tuple(r.name for r in prepared.spec.declared("pypi"))
        return WarmTarget(
            prepared.env_id,
            argv or prepared.argv,
            recipe.language,
            declared,
            recipe.name,
            dict(prepared.kernel_env),
        )

    def remember(self, target: WarmTarget) -> None:
        """Mark an environment as recently used: keep it warm (once the kernel being started
        answered), and again after a restart of the server on this root."""
        from jupyter_orbit.server import headstart

        self.pool.want(target)
        entry = {
            "env_id": target.env_id,
            "argv": target.argv,
            "boot": headstart.boot_command(target.recipe, target.argv, target.imports),
            "language": target.language,
            "imports": list(target.imports),
            "recipe": target.recipe,
            "env": target.env,
        }
        try:
            self.recent.remember(self.root_dir, entry)
        except OSError as e:
            self.log.warning("Orbit: could not record recent environments: %s", e)

    def keep_spare(self, kernel_id: str, *, after: list[asyncio.Future] | None = None) -> None:
        """Keep a clone of the running kernel's environment ready for a hot add (if it is a
        kernel that can grow), made once ``after`` is done."""
        from jupyter_orbit.bazaar.hot import growable

        info = self.kernels.get(kernel_id)
        found = growable(self, info) if info and not info.get("error") else None
        if found is not None:
            self.spares.want(*found, after=after)

    def kernel_gone(self, kernel_id: str) -> None:
        """A kernel stopped for good: forget it, and its environment's spare if no other kernel
        runs in that environment."""
        info = self.kernels.pop(kernel_id, None) or {}
        env_id = info.get("env_id")
        if env_id and not any(k.get("env_id") == env_id for k in self.kernels.values()):
            self.spares.forget(env_id)

    def prewarm_recent(self) -> None:
        """Warm the environments last opened under this root (the pool starts them once no
        user's kernel is starting, at low priority, within its memory budget); the kernel the
        server's process started for the last one (``headstart``) is adopted."""
        from jupyter_orbit.server import headstart

        for t in reversed(self.recent.of(self.root_dir)[: self.pool.max_envs]):
            argv = t.get("argv")
            if isinstance(argv, list) and argv and Path(argv[0]).exists():
                self.pool.want(
                    WarmTarget(
                        t["env_id"],
                        t["argv"],
                        t.get("language", "python"),
                        tuple(t.get("imports", ())),
                        t.get("recipe", "python"),
                        dict(t.get("env", {})),
                    ),
                    started=headstart.claim(t["env_id"], argv),
                )
        headstart.discard()  # begun for an environment the pool does not warm

    def prewarm_defaults(self, recipes: list[str], folder: Path) -> None:
        """Keep kernels warm for what a new notebook in ``folder`` gets (the launcher's cards),
        once the menu's own state (recipes, system checks) is ready to serve.

        An environment that is not built yet is built first when it needs nothing but the
        recipe's own packages; one that declares more waits for a notebook to ask for it.
        """
        task = asyncio.ensure_future(self._prewarm_defaults(recipes, folder))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prewarm_defaults(self, recipes: list[str], folder: Path) -> None:
        from jupyter_orbit.server.catalog import recipe_states

        # First the menu itself: its first answer then needs no imports or system probes.
        try:
            await asyncio.to_thread(recipe_states, self.paths, folder, self.choices())
        except Exception as e:
            self.log.info("Orbit: could not prepare the kernel menu: %s", e)
        if not self.pool.enabled:
            return
        await self.pool.idle()  # building and resolving wait for a user's kernel to start
        for name in reversed(recipes[: self.pool.max_envs]):
            try:
                recipe = get_recipe(name)
                if recipe.adopt_code(folder, "") is None or recipe.missing():
                    continue
                choices = dataclasses.replace(self.choices(name), consent=NO_CONSENT)
                found = await asyncio.to_thread(
                    prepare, folder, choices, self.paths, until="resolve"
                )
                if found.engine.name != "local":
                    continue  # container images are built on first use, not at server start
                # Builds only what needs no consent: the kernel's own packages.
                progress = LogProgress(self.log, prefix=f"Orbit [{found.env_id[:8]}] ")
                prepared = await asyncio.to_thread(
                    prepare, folder, choices, self.paths, progress=progress
                )
                # a guess, not a use: the environments opened here come first
                self.pool.want(self.warm_target(prepared), used=False)
            except Exception as e:  # a default that cannot be warmed is not an error
                self.log.info("Orbit: not prewarming %s in %s: %s", name, folder, e)

    def recent_projects(self) -> list[dict]:
        try:
            data = json.loads(self._projects_file.read_text())
            return [d for d in data if isinstance(d, dict) and "path" in d]
        except (FileNotFoundError, ValueError):
            return []

    def _note_project(self, res: Resolution) -> None:
        entry = {
            "path": str(res.project_root),
            "notebook": str(res.notebook),
            "kernel": res.spec.kernel,
            "used": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        recent = [p for p in self.recent_projects() if p["path"] != entry["path"]]
        try:
            atomic.write_json(self._projects_file, [entry, *recent][:12])
        except OSError as e:
            self.log.warning("Orbit: could not record recent projects: %s", e)
