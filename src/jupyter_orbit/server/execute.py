"""The server side of ``orbit run``: a prewarmed kernel for a built environment, then nbclient."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from jupyter_orbit.engines import get_engine
from jupyter_orbit.execute import Emit, execute, start_kernel
from jupyter_orbit.kernels.pool import WarmTarget
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.server.runtime import OrbitRuntime


async def run_streaming(runtime: OrbitRuntime, body: dict[str, Any], emit: Emit) -> None:
    engine = get_engine(body.get("engine", "local"), runtime.paths)
    env = engine.lookup_id(str(body["env_id"]))
    if env is None:
        await emit(
            {
                "done": True,
                "ok": False,
                "ename": "OrbitError",
                "evalue": f"environment {body['env_id']} is not built",
            }
        )
        return
    recipe = get_recipe(str(body.get("kernel", "python")))
    argv = engine.kernel_argv(env, recipe)
    kernel_env = engine.kernel_env(env, recipe)
    cwd = Path(str(body["cwd"]))
    session = str(body.get("session", ""))
    warm = await runtime.pool.take(env.env_id, cwd=cwd, session=session)
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
