"""The server side of ``orbit run``: a prewarmed kernel for a built environment, then nbclient."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from jupyter_orbit.engines import get_engine
from jupyter_orbit.engines.base import Engine, Launch
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.execute import Emit, execute, start_kernel
from jupyter_orbit.kernels.recipes import KernelRecipe, get_recipe
from jupyter_orbit.model import Environment
from jupyter_orbit.server.pool import WarmTarget
from jupyter_orbit.server.runtime import OrbitRuntime


async def run_streaming(runtime: OrbitRuntime, body: dict[str, Any], emit: Emit) -> None:
    try:
        engine, env, recipe, argv, kernel_env = await _kernel_for(runtime, body)
    except OrbitError as err:
        await emit({"done": True, "ok": False, "ename": "OrbitError", "evalue": str(err)})
        return
    cwd = Path(str(body["cwd"]))
    session = str(body.get("session", ""))
    warm = None
    if engine.warm_kernels:
        warm = await runtime.pool.take(env.env_id, cwd=cwd, session=session, argv=argv)
        imports = tuple(body.get("imports", ()))
        runtime.remember(
            WarmTarget(env.env_id, argv, recipe.language, imports, recipe.name, kernel_env)
        )
    how = "prewarmed" if warm is not None else "new"
    runtime.log.info("Orbit: running %s in environment %s (%s kernel)", session, env.env_id, how)
    await emit({"kernel": how})
    km = (
        warm.km
        if warm
        else await start_kernel(argv, recipe.language, cwd, session, extra_env=kernel_env)
    )
    try:
        await execute(
            body["notebook"],
            km=km,
            kc=warm.kc if warm else None,
            cwd=cwd,
            timeout=body.get("timeout"),
            emit=emit,
        )
    finally:
        if warm:
            warm.kc.stop_channels()
        with contextlib.suppress(Exception):
            await km.shutdown_kernel(now=True)


async def _kernel_for(
    runtime: OrbitRuntime, body: dict[str, Any]
) -> tuple[Engine, Environment, KernelRecipe, list[str], dict[str, str]]:
    """The engine and built environment ``body`` names, the command that starts its kernel,
    and the variables that kernel needs."""
    engine = get_engine(body.get("engine", "local"), runtime.paths)
    env = await asyncio.to_thread(engine.lookup_id, str(body["env_id"]))
    if env is None:
        raise OrbitError(f"environment {body['env_id']} is not built")
    recipe = get_recipe(str(body.get("kernel", "python")))
    cwd = Path(str(body["cwd"]))
    session = str(body.get("session", ""))
    # Inside the server's root the kernel sees that root, as the server's own kernels do.
    root = runtime.root_dir if cwd.is_relative_to(runtime.root_dir) else body.get("project_root")
    launch = Launch(
        Path(session) if session.endswith(".ipynb") else None,
        Path(root) if root else None,
        bool(body.get("allow_host_access", runtime.allow_host_access)),
    )
    argv = await asyncio.to_thread(engine.kernel_command, env, recipe, launch)
    return engine, env, recipe, argv, engine.kernel_env(env, recipe)
