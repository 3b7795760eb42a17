"""Orbit's state inside the server process: environments per notebook, warm kernels, status.

The server extension creates one ``OrbitRuntime`` when it loads; the kernel provisioner and the
REST handlers reach it through ``current()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from jupyter_orbit import asof, atomic
from jupyter_orbit.engines import get_engine
from jupyter_orbit.engines.local import default_python
from jupyter_orbit.errors import OrbitError, TrustError
from jupyter_orbit.kernels.pool import KernelPool, WarmTarget
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.manifests import resolve
from jupyter_orbit.model import Environment, Resolution
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import LogProgress
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
    ) -> None:
        self.paths = paths
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

    async def prepare(
        self, target: Path, *, kernel: str | None = None
    ) -> tuple[Resolution, Environment, list[str]]:
        """Resolve ``target``'s environment, build it if needed, and return its kernel argv."""
        res = await asyncio.to_thread(
            resolve,
            target,
            root=self.root_dir,
            kernel=kernel,
            default_python=default_python(),
            recall=asof.recall_now(self.paths),
        )
        engine = get_engine(res.engine, self.paths)
        env = engine.lookup(res.spec)
        if env is None:
            if not self.trust.is_trusted(res.project_root):
                raise TrustError(
                    f"{res.project_root} is not trusted: Orbit will not install what it declares",
                    f"trust it with `orbit trust {res.project_root}`, then restart the kernel",
                )
            progress = LogProgress(self.log, prefix=f"Orbit [{res.spec.env_id[:8]}] ")
            progress.step("as-of", asof.describe(res))
            try:
                env = await asyncio.to_thread(engine.ensure, res.spec, progress)
            except OrbitError as err:
                raise asof.explain(err, res) from None
            asof.remember_now(self.paths, res)
        await asyncio.to_thread(self.stamper.stamp, res)
        recipe = get_recipe(res.spec.kernel)
        return res, env, engine.kernel_argv(env, recipe)

    def warm_target(self, res: Resolution, argv: list[str]) -> WarmTarget:
        recipe = get_recipe(res.spec.kernel)
        declared = tuple(
            r.name
            for r in res.spec.packages("pypi")
            if r.origin is None or r.origin.rank < 5  # not the recipe's own (ipykernel…)
        )
        return WarmTarget(res.spec.env_id, argv, recipe.language, declared)

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
                    )
                )

    def _load_recent(self) -> list[dict]:
        try:
            data = json.loads(self._recent_file.read_text())
            return [d for d in data if isinstance(d, dict) and "env_id" in d]
        except (FileNotFoundError, ValueError):
            return []
