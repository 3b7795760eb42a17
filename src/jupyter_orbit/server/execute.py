"""The server side of ``orbit run``: a prewarmed kernel for a built environment, then nbclient.

The request names a notebook, the environment ``orbit run`` built for it and where it runs; what
the kernel may reach is the server's own decision, as for every kernel it starts
(``OrbitRuntime.choices``): its root folder, and host access only if the server was started
with it. A request for a folder outside the root, or for host access the server was not
given, is refused before anything starts (``orbit run`` then runs the notebook itself).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_orbit.engines import get_engine
from jupyter_orbit.engines.base import Engine, Launch
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.execute import Emit, execute, start_kernel, stop_kernel
from jupyter_orbit.kernels.recipes import KernelRecipe, get_recipe
from jupyter_orbit.model import Environment
from jupyter_orbit.server.kernel_stderr import StderrTail
from jupyter_orbit.server.pool import WarmTarget
from jupyter_orbit.server.runtime import OrbitRuntime


class Refused(OrbitError):
    """A run request that asks for more than the server was started with."""


@dataclass(frozen=True)
class RunRequest:
    notebook: dict[str, Any]  # the notebook's JSON, as executed
    env_id: str
    engine: str
    kernel: str
    cwd: Path  # real path, inside the server's root
    session: str  # the notebook's path, as the kernel is told (JPY_SESSION_NAME)
    path: Path | None  # the notebook's file, real path inside the root (None: not a notebook)
    timeout: int | None
    imports: tuple[str, ...]


def check_request(runtime: OrbitRuntime, body: dict[str, Any]) -> RunRequest:
    """``body`` as a request this server may carry out, or ``Refused`` saying why not."""
    root = runtime.root_dir
    fix = "`orbit run` runs it without the server; or stop the server and start it there"
    cwd = Path(str(body["cwd"])).resolve()
    if not cwd.is_relative_to(root) or not cwd.is_dir():
        raise Refused(f"{body['cwd']} is not a folder inside this server's root ({root})", fix)
    session = str(body.get("session", ""))
    path = None
    if session.endswith(".ipynb"):
        path = Path(session).resolve()
        if not path.is_relative_to(root):
            raise Refused(f"{session} is outside this server's root ({root})", fix)
    if body.get("allow_host_access") and not runtime.allow_host_access:
        raise Refused(
            "this server was started without --allow-host-access",
            "`orbit run --allow-host-access` runs it without the server; or restart the "
            "server with `orbit up --allow-host-access`",
        )
    timeout = body.get("timeout")
    return RunRequest(
        notebook=body["notebook"],
        env_id=str(body["env_id"]),
        engine=str(body.get("engine") or runtime.default_engine),
        kernel=str(body.get("kernel") or "python"),
        cwd=cwd,
        session=session,
        path=path,
        timeout=int(timeout) if timeout is not None else None,
        imports=tuple(str(i) for i in body.get("imports", ())),
    )


async def run_streaming(runtime: OrbitRuntime, request: RunRequest, emit: Emit) -> None:
    try:
        engine, env, recipe, argv, kernel_env = await _kernel_for(runtime, request)
    except OrbitError as err:
        await emit({"done": True, "ok": False, "ename": "OrbitError", "evalue": str(err)})
        return
    cwd, session = request.cwd, request.session
    warm = None
    if engine.warm_kernels:
        warm = await runtime.pool.take(env.env_id, cwd=cwd, session=session, argv=argv)
        runtime.remember(
            WarmTarget(env.env_id, argv, recipe.language, request.imports, recipe.name, kernel_env)
        )
    how = "prewarmed" if warm is not None else "new"
    runtime.log.info("Orbit: running %s in environment %s (%s kernel)", session, env.env_id, how)
    await emit({"kernel": how})
    tail = None if warm else StderrTail()
    if warm:
        km = warm.km
    else:
        assert tail is not None
        try:
            km = await start_kernel(
                argv, recipe.language, cwd, session, log=tail.fd, extra_env=kernel_env
            )
        finally:
            tail.launched()

    async def told(event: dict[str, Any]) -> None:
        if tail is not None and event.get("ename") in ("DeadKernel", "KernelDied"):
            event["stderr"] = tail.lines()  # what the kernel said before it died
        await emit(event)

    try:
        await execute(
            request.notebook,
            km=km,
            kc=warm.kc if warm else None,
            cwd=cwd,
            timeout=request.timeout,
            emit=told,
        )
    finally:
        if warm:
            warm.kc.stop_channels()
        with contextlib.suppress(Exception):
            await stop_kernel(km)


async def _kernel_for(
    runtime: OrbitRuntime, request: RunRequest
) -> tuple[Engine, Environment, KernelRecipe, list[str], dict[str, str]]:
    """The engine and built environment the request names, the command that starts its kernel
    with the server's own choices (its root, its host access), and the variables that kernel
    needs."""
    engine = get_engine(request.engine, runtime.paths)
    env = await asyncio.to_thread(engine.lookup_id, request.env_id)
    if env is None:
        raise OrbitError(f"environment {request.env_id} is not built")
    recipe = get_recipe(request.kernel)
    choices = runtime.choices(recipe.name)
    launch = Launch(request.path, choices.root, choices.allow_host_access)
    await asyncio.to_thread(engine.check_launch, launch)
    argv = await asyncio.to_thread(engine.kernel_command, env, recipe, launch)
    return engine, env, recipe, argv, engine.kernel_env(env, recipe)
