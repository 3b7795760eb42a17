"""Orbit's state inside the server process: environments per notebook, warm kernels, status.

The server extension creates one ``OrbitRuntime`` when it loads; the kernel provisioner and the
REST handlers reach it through ``current()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from jupyter_orbit import asof, atomic
from jupyter_orbit.engines import get_engine
from jupyter_orbit.engines.base import Launch, engine_classes, engine_name
from jupyter_orbit.engines.local import default_python
from jupyter_orbit.errors import OrbitError, TrustError
from jupyter_orbit.kernels.pool import KernelPool, WarmTarget
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.manifests import resolve
from jupyter_orbit.model import Environment, Resolution
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import FanOutProgress, LogProgress, Progress
from jupyter_orbit.server.stamping import Stamper
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
            cwd=root_dir, env=kernel_env, per_env=pool_per_env, max_envs=pool_max_envs, log=log
        )
        self._recent_file = profile.root / "recent-envs.json"
        self.stamper = Stamper(log)
        self._projects_file = profile.root / "recent-projects.json"
        # Who wants to see the steps of preparing a notebook's kernel (the launcher page).
        self._watchers: dict[Path, list[Progress]] = {}
        self._background: set[asyncio.Task] = set()
        self.launcher_visits = 0  # how often the launcher page was served

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

    async def prepare(
        self, target: Path, *, kernel: str | None = None
    ) -> tuple[Resolution, Environment, list[str]]:
        """Resolve ``target``'s environment, build it if needed, and return its kernel argv."""
        watchers = FanOutProgress(*self._watchers.get(target.resolve(), ()))
        watchers.step("resolve", f"reading what {target.name} and its project declare")
        res = await asyncio.to_thread(
            resolve,
            target,
            root=self.root_dir,
            kernel=kernel,
            default_python=default_python(),
            recall=asof.recall_now(self.paths),
        )
        if res.notebook is not None:
            await asyncio.to_thread(self._note_project, res)
        engine = get_engine(engine_name(res, default=self.default_engine), self.paths)
        res = engine.adapt(res)
        launch = Launch(res.notebook, self.root_dir, self.allow_host_access)
        env = await asyncio.to_thread(engine.lookup, res.spec)
        recipe = get_recipe(res.spec.kernel)
        await asyncio.to_thread(recipe.check_system)
        if env is None:
            if not self.trust.is_trusted(res.project_root):
                raise TrustError(
                    f"{res.project_root} is not trusted: Orbit will not install what it declares",
                    f"trust it with `orbit trust {res.project_root}`, then restart the kernel",
                )
            engine.check_launch(launch)
            progress = FanOutProgress(
                LogProgress(self.log, prefix=f"Orbit [{res.spec.env_id[:8]}] "), watchers
            )
            progress.step("as-of", asof.describe(res))
            try:
                env = await asyncio.to_thread(engine.ensure, res.spec, progress)
            except OrbitError as err:
                raise asof.explain(err, res) from None
            asof.remember_now(self.paths, res)
        else:
            watchers.step("reuse", f"environment {env.env_id} is built")
        await asyncio.to_thread(self.stamper.stamp, res)
        argv = await asyncio.to_thread(engine.kernel_command, env, recipe, launch)
        return res, env, argv

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

    def launch_env(self, res: Resolution, env: Environment) -> dict[str, str]:
        """Variables the kernel's recipe needs in ``env`` (see ``KernelRecipe.kernel_env``)."""
        return get_engine(env.engine, self.paths).kernel_env(env, get_recipe(res.spec.kernel))

    def warm_target(
        self, res: Resolution, argv: list[str], env: dict[str, str] | None = None
    ) -> WarmTarget:
        recipe = get_recipe(res.spec.kernel)
        declared = tuple(
            r.name
            for r in res.spec.packages("pypi")
            if r.origin is None or r.origin.rank < 5  # not the recipe's own (ipykernel…)
        )
        return WarmTarget(
            res.spec.env_id, argv, recipe.language, declared, recipe.name, dict(env or {})
        )

    def remember(self, target: WarmTarget) -> None:
        """Mark an environment as recently used: keep it warm now and after a restart."""
        self.pool.want(target)
        recent = [t for t in self._load_recent() if t["env_id"] != target.env_id]
        recent.insert(
            0,
            {
                "env_id": target.env_id,
                "argv": target.argv,
                "language": target.language,
                "imports": list(target.imports),
                "recipe": target.recipe,
                "env": target.env,
            },
        )
        try:
            atomic.write_json(self._recent_file, recent[: self.pool.max_envs or 1])
        except OSError as e:
            self.log.warning("Orbit: could not record recent environments: %s", e)

    def prewarm_recent(self) -> None:
        for t in reversed(self._load_recent()[: self.pool.max_envs]):
            if t.get("argv") and Path(t["argv"][0]).exists():
                self.pool.want(
                    WarmTarget(
                        t["env_id"],
                        t["argv"],
                        t.get("language", "python"),
                        tuple(t.get("imports", ())),
                        t.get("recipe", "python"),
                        dict(t.get("env", {})),
                    )
                )

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
        from jupyter_orbit.kernels.catalog import (
            default_resolution,
            only_recipe_packages,
            recipe_states,
        )

        # First the menu itself: its first answer then needs no imports or system probes.
        try:
            await asyncio.to_thread(recipe_states, self.paths, folder, root=self.root_dir)
        except Exception as e:
            self.log.info("Orbit: could not prepare the kernel menu: %s", e)
        if not self.pool.enabled:
            return
        for name in reversed(recipes[: self.pool.max_envs]):
            try:
                res = await asyncio.to_thread(default_resolution, folder, name, root=self.root_dir)
                recipe = get_recipe(res.spec.kernel)
                if recipe.adopt_code(folder, "") is None or recipe.missing():
                    continue
                if engine_name(res, default=self.default_engine) != "local":
                    continue  # container images are built on first use, not at server start
                engine = get_engine(res.engine, self.paths)
                env = engine.lookup(res.spec)
                if env is None:
                    if not only_recipe_packages(res):
                        continue
                    progress = LogProgress(self.log, prefix=f"Orbit [{res.spec.env_id[:8]}] ")
                    env = await asyncio.to_thread(engine.ensure, res.spec, progress)
                argv = engine.kernel_argv(env, recipe)
                self.pool.want(self.warm_target(res, argv, engine.kernel_env(env, recipe)))
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

    def _load_recent(self) -> list[dict]:
        try:
            data = json.loads(self._recent_file.read_text())
            return [d for d in data if isinstance(d, dict) and "env_id" in d]
        except (FileNotFoundError, ValueError):
            return []
