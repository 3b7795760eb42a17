"""Orbit's kernel provisioner: each notebook's kernel in that notebook's own environment.

Registered as ``orbit-provisioner`` (entry point group ``jupyter_client.kernel_provisioners``)
and named by the profile's kernelspecs. In ``pre_launch`` it finds the session's notebook
(Jupyter passes its path as ``JPY_SESSION_NAME``), resolves and builds its environment, and
points the kernel command at it; in ``launch_kernel`` it hands over a prewarmed kernel when the
pool has one. When the environment cannot be built it launches the explaining kernel instead.

While a notebook's kernel starts, the warm-kernel pool starts none of its own (a hold on the
pool, released once the kernel answered or failed): a prewarm never competes with a kernel
someone waits for.

Every step goes to the notebook's build job (``server/builds.py``), which JupyterLab follows;
the job ends when the kernel answers, or when it exits first: then its last lines on stderr are
kept, and the restart that follows launches the explaining kernel with them.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from jupyter_orbit.errors import OrbitError
from jupyter_orbit.execute import wait_ready
from jupyter_orbit.server import fallback
from jupyter_orbit.server.jobs import Job, JobProgress
from jupyter_orbit.server.kernel_stderr import StderrTail

READY_TIMEOUT = 600.0  # seconds a kernel may take to answer before its build job stops waiting


class OrbitProvisioner(LocalProvisioner):
    recipe = Unicode("python", config=True, help="The kernel recipe this kernelspec stands for.")

    _pooled: Any = None
    _hold: Any = None  # the pool waits while this kernel starts (server/pool.py's Hold)
    _job: Job | None = None  # the notebook's build job, until the kernel answers
    _tail: StderrTail | None = None  # the launched kernel's stderr
    _answered = True  # the launched kernel answered (or is one that needs no watching)
    _stopping = False  # we are stopping the kernel ourselves
    _died: dict[str, Any] | None = None  # the last kernel exited before it answered: why
    _exited: asyncio.Event  # set when that is found out

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        from jupyter_orbit.server import runtime as rt

        runtime = rt.current()
        if runtime is None:  # not inside an Orbit server: behave like the plain kernelspec
            return kwargs
        env = kwargs["env"]
        session = env.get("JPY_SESSION_NAME", "")
        cwd = Path(kwargs.get("cwd") or runtime.root_dir)
        target = self._notebook(runtime.root_dir, cwd, session)
        info: dict[str, Any] = {"notebook": str(target), "recipe": self.recipe}
        self._release()
        self._hold = runtime.pool.hold(str(target))
        job = self._job = runtime.builds.begin(target)
        died, self._died = self._died, None
        try:
            if died is not None:  # it exited as it started: explain, rather than start it again
                raise _Died(died)
            with runtime.watch(target, JobProgress(job, asyncio.get_running_loop())):
                prepared = await runtime.prepare(target, kernel=self.recipe)
        except (OrbitError, _Died) as err:
            problem = err.to_dict()
            self.log.warning("Orbit: %s: %s", target, problem["error"])
            env[fallback.ENV_VAR] = json.dumps(problem)
            kwargs["cmd"] = self._fill(fallback.argv())
            info["error"] = problem
            job.emit({"done": True, "ok": False, "problem": problem})
            self._job = None
            self._release()  # the explaining kernel is no kernel to wait for
        except BaseException as err:
            job.emit({"done": True, "ok": False, "problem": {"error": f"{err!r}"}})
            self._job = None
            self._release()
            raise
        else:
            environment = prepared.environment
            assert environment is not None
            kwargs["cmd"] = self._fill(prepared.argv)
            env.update(prepared.kernel_env)
            info.update(
                env_id=environment.env_id,
                location=str(environment.location),
                engine=environment.engine,
                warnings=list(prepared.warnings),
            )
            if prepared.engine.warm_kernels:
                self._pooled = await runtime.pool.take(
                    environment.env_id, cwd=cwd, session=session, argv=prepared.argv
                )
            if prepared.engine.warm_kernels and not prepared.services:
                # a warm kernel would hold its services up for good, or a remote host's process
                runtime.remember(runtime.warm_target(prepared))
            info["prewarmed"] = self._pooled is not None
            how = "a prewarmed kernel is handed over" if self._pooled else "starting it"
            job.emit({"step": "kernel", "detail": how})
        runtime.kernels[self.kernel_id] = info
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        warm, self._pooled = self._pooled, None
        self._stopping = False
        if warm is None:
            self._tail = StderrTail()
            self._answered = self._job is None  # the explaining kernel needs no watching
            self._exited = asyncio.Event()
            try:
                return await super().launch_kernel(cmd, **{**kwargs, "stderr": self._tail.fd})
            except BaseException:
                self._release()
                raise
            finally:
                self._tail.launched()
        self._tail, self._answered = None, True
        warm.kc.stop_channels()  # the server makes its own connections
        pooled = warm.km
        # Take over the warm kernel's process: its manager forgets it, we own it from here.
        # The ports we reserved in pre_launch go back; the warm kernel's stay reserved, by us.
        await LocalProvisioner.cleanup(self, restart=False)
        self.ports_cached = pooled.provisioner.ports_cached
        pooled.provisioner.ports_cached = False
        self.process = pooled.provisioner.process
        pooled.provisioner.process = None
        self.pid = self.process.pid
        self.pgid = os.getpgid(self.pid) if hasattr(os, "getpgid") else None
        self.cwd = kwargs.get("cwd")
        self.connection_info = pooled.get_connection_info()
        await pooled.cleanup_resources(restart=False)
        return self.connection_info

    async def post_launch(self, **kwargs: Any) -> None:
        await super().post_launch(**kwargs)
        job, self._job = self._job, None
        if job is None:
            self._release()
            return
        if self._answered:  # a prewarmed kernel: it answered long ago
            self._release()
            job.emit({"done": True, "ok": True})
            self._keep_spare()
            return
        task = asyncio.ensure_future(self._until_answered(job))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _until_answered(self, job: Job) -> None:
        """End ``job`` when the kernel answers, or with why it exited before it did."""
        exited = asyncio.ensure_future(self._exited.wait())
        client = self.parent.client()
        client.start_channels()
        ready = asyncio.ensure_future(wait_ready(self.parent, client, READY_TIMEOUT))
        try:
            await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
            if ready.done() and ready.exception() is None:
                self._answered = True
                self._release()  # now the pool may warm the next one
                job.emit({"done": True, "ok": True})
                self._keep_spare()
                return
            await self.poll()  # records why, if it exited
            problem = self._died or {"error": "the kernel has not answered", "kind": "Timeout"}
            job.emit({"done": True, "ok": False, "problem": problem})
        finally:
            self._release()
            for task in (ready, exited):
                task.cancel()
            client.stop_channels()

    def _keep_spare(self) -> None:
        from jupyter_orbit.server import runtime as rt

        runtime = rt.current()
        if runtime is not None:
            runtime.keep_spare(self.kernel_id)

    def _release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.release()

    async def poll(self) -> int | None:
        code = await super().poll()
        if (
            code is not None
            and self.process is not None
            and not (self._answered or self._stopping or self._died)
        ):
            self._died = self._death(code)
            self._exited.set()
            from jupyter_orbit.server import runtime as rt

            runtime = rt.current()
            if runtime is not None and self.kernel_id in runtime.kernels:
                runtime.kernels[self.kernel_id]["error"] = self._died
        return code

    def _death(self, code: int) -> dict[str, Any]:
        # (returns at the end of its stream; a loaded machine may take a while to read it all)
        lines = self._tail.lines(wait=2.0) if self._tail else []
        how = f"exit code {code}" if code >= 0 else f"signal {-code}"
        return {
            "error": f"the kernel exited as it started ({how})",
            "hint": "fix what its last lines on stderr say, then restart the kernel"
            if lines
            else "see the server log (`orbit status`), then restart the kernel",
            "stderr": lines,
            "kind": "KernelDied",
        }

    async def kill(self, restart: bool = False) -> None:
        self._stopping = True
        await super().kill(restart)

    async def terminate(self, restart: bool = False) -> None:
        self._stopping = True
        await super().terminate(restart)

    async def cleanup(self, restart: bool = False) -> None:
        self._release()
        await super().cleanup(restart)
        from jupyter_orbit.server import runtime as rt

        runtime = rt.current()
        if runtime is not None and not restart:
            runtime.kernel_gone(self.kernel_id)

    def _fill(self, argv: list[str]) -> list[str]:
        connection_file = self.parent.connection_file
        return [a.replace("{connection_file}", connection_file) for a in argv]

    @staticmethod
    def _notebook(root: Path, cwd: Path, session: str) -> Path:
        """The notebook this kernel is for; its folder when Jupyter did not say."""
        if session:
            for candidate in (root / session, cwd / Path(session).name):
                if candidate.is_file():
                    return candidate
        return cwd


class _Died(Exception):
    """The kernel launched last exited before it answered: start the explaining kernel."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("error"))
        self.problem = problem

    def to_dict(self) -> dict[str, Any]:
        return self.problem
