"""The server side of ``orbit run``: a prewarmed kernel for a built environment, then nbclient.

The request names a notebook, the environment ``orbit run`` built for it and where it runs; what
the kernel may reach is the server's own decision, as for every kernel it starts
(``OrbitRuntime.choices``): its root folder, and host access only if the server was started
with it. A request for a folder outside the root, or for host access the server was not
given, is refused before anything starts (``orbit run`` then runs the notebook itself).

A request names the environment either by id (``orbit run`` ran the pipeline and built it) or
not at all: then the server runs the pipeline for the notebook with the command line's choices
and keeps the answer (``server/runanswers.py``), so a run of a notebook whose environment is
built costs ``orbit run`` no pipeline and the server none after the first. When the answer is
that ``orbit run`` must prepare the notebook itself (to build, ask, or start services), the
only event is ``{"done": true, "ok": false, "prepare": "here"}``, sent before any kernel starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from dataclasses import dataclass, field
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
from jupyter_orbit.server.runanswers import Answer, Asked, RunAnswers
from jupyter_orbit.server.runtime import OrbitRuntime


class Refused(OrbitError):
    """A run request that asks for more than the server was started with."""


@dataclass(frozen=True)
class RunRequest:
    notebook: dict[str, Any]  # the notebook's JSON, as executed
    env_id: str | None  # None: the server runs the pipeline with ``asked``
    engine: str
    kernel: str
    cwd: Path  # real path, inside the server's root
    session: str  # the notebook's path, as the kernel is told (JPY_SESSION_NAME)
    path: Path | None  # the notebook's file, real path inside the root (None: not a notebook)
    timeout: int | None
    imports: tuple[str, ...]
    asked: Asked = field(default_factory=Asked)
    kernel_env: dict[str, str] = field(default_factory=dict)  # beside the engine's own


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
    env_id = body.get("env_id")
    if env_id is None and path is None:
        raise Refused("a run request names a built environment or a notebook", fix)
    timeout = body.get("timeout")
    return RunRequest(
        notebook=body["notebook"],
        env_id=str(env_id) if env_id is not None else None,
        engine=str(body.get("engine") or runtime.default_engine),
        kernel=str(body.get("kernel") or "python"),
        cwd=cwd,
        session=session,
        path=path,
        timeout=int(timeout) if timeout is not None else None,
        imports=tuple(str(i) for i in body.get("imports", ())),
        asked=Asked.of(body),
    )


_answers: weakref.WeakKeyDictionary[OrbitRuntime, RunAnswers] = weakref.WeakKeyDictionary()


def answers(runtime: OrbitRuntime) -> RunAnswers:
    """The pipeline's answers this server keeps for run requests."""
    if runtime not in _answers:
        _answers[runtime] = RunAnswers(runtime.paths, runtime.profile, runtime.choices)
    return _answers[runtime]


async def _named(runtime: OrbitRuntime, request: RunRequest) -> tuple[RunRequest, Answer]:
    """``request`` naming its environment, by the pipeline's (kept) answer."""
    assert request.path is not None
    answer = await asyncio.to_thread(answers(runtime).answer, request.path, request.asked)
    if answer.here:
        return request, answer
    named = dataclasses.replace(
        request,
        env_id=answer.env_id,
        engine=answer.engine,
        kernel=answer.kernel,
        imports=answer.imports,
        kernel_env=answer.kernel_env,
    )
    return named, answer


async def run_streaming(runtime: OrbitRuntime, request: RunRequest, emit: Emit) -> None:
    by_pipeline = request.env_id is None
    if by_pipeline:
        request, answer = await _named(runtime, request)
        if answer.here:
            await emit({"done": True, "ok": False, "prepare": "here", "why": answer.here})
            return
    try:
        engine, env, recipe, argv, kernel_env = await _kernel_for(runtime, request)
    except OrbitError as err:
        if by_pipeline:  # its environment is gone: orbit run prepares it again
            assert request.path is not None
            answers(runtime).forget(request.path, request.asked)
            await emit({"done": True, "ok": False, "prepare": "here", "why": str(err)})
            return
        await emit({"done": True, "ok": False, "ename": "OrbitError", "evalue": str(err)})
        return
    kernel_env = {**kernel_env, **request.kernel_env}
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
    # a kernel started for this run: the pool starts none until it answered (its first event)
    hold = runtime.pool.hold(str(session)) if engine.warm_kernels and not warm else None
    if warm:
        km = warm.km
    else:
        assert tail is not None
        try:
            km = await start_kernel(
                argv, recipe.language, cwd, session, log=tail.fd, extra_env=kernel_env
            )
        except BaseException:
            if hold is not None:
                hold.release()
            raise
        finally:
            tail.launched()

    async def told(event: dict[str, Any]) -> None:
        if hold is not None:
            hold.release()
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
        if hold is not None:
            hold.release()
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
    return await asyncio.to_thread(_kernel_here, runtime, request)


def _kernel_here(
    runtime: OrbitRuntime, request: RunRequest
) -> tuple[Engine, Environment, KernelRecipe, list[str], dict[str, str]]:
    assert request.env_id is not None
    engine = get_engine(request.engine, runtime.paths)
    env = engine.lookup_id(request.env_id)
    if env is None:
        raise OrbitError(f"environment {request.env_id} is not built")
    recipe = get_recipe(request.kernel)
    # The server's own root and host access (what runtime.choices() would say, without reading
    # the profile's settings for the rest).
    launch = Launch(request.path, runtime.root_dir, runtime.allow_host_access)
    engine.check_launch(launch)
    argv = engine.kernel_command(env, recipe, launch)
    return engine, env, recipe, argv, engine.kernel_env(env, recipe)
