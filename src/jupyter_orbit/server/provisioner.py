"""Orbit's kernel provisioner: each notebook's kernel in that notebook's own environment.

Registered as ``orbit-provisioner`` (entry point group ``jupyter_client.kernel_provisioners``)
and named by the profile's kernelspecs. In ``pre_launch`` it finds the session's notebook
(Jupyter passes its path as ``JPY_SESSION_NAME``), resolves and builds its environment, and
points the kernel command at it; in ``launch_kernel`` it hands over a prewarmed kernel when the
pool has one. When the environment cannot be built it launches the explaining kernel instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from jupyter_orbit.errors import OrbitError
from jupyter_orbit.server import fallback


class OrbitProvisioner(LocalProvisioner):
    recipe = Unicode("python", config=True, help="The kernel recipe this kernelspec stands for.")

    _pooled: Any = None

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
        try:
            prepared = await runtime.prepare(target, kernel=self.recipe)
        except OrbitError as err:
            self.log.warning("Orbit: %s: %s", target, err)
            env[fallback.ENV_VAR] = json.dumps(err.to_dict())
            kwargs["cmd"] = self._fill(fallback.argv())
            info["error"] = err.to_dict()
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
                runtime.remember(runtime.warm_target(prepared))
            info["prewarmed"] = self._pooled is not None
        runtime.kernels[self.kernel_id] = info
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        warm, self._pooled = self._pooled, None
        if warm is None:
            return await super().launch_kernel(cmd, **kwargs)
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

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        from jupyter_orbit.server import runtime as rt

        runtime = rt.current()
        if runtime is not None and not restart:
            runtime.kernels.pop(self.kernel_id, None)

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
