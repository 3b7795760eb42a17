"""Orbit's server extension: the runtime, and a REST API under ``/orbit/api``.

Every handler is a jupyter_server ``APIHandler``: token-authenticated, XSRF-checked for browser
requests, authorised against the "kernels" resource because each one can run code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
from pathlib import Path

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from traitlets import Bool, Int, List, Unicode

from jupyter_orbit import __version__
from jupyter_orbit.paths import DEFAULT_PROFILE, Paths
from jupyter_orbit.server import runtime as rt
from jupyter_orbit.server.checkpoints import keep_in_profile


class _OrbitHandler(APIHandler):
    auth_resource = "kernels"

    @property
    def runtime(self) -> rt.OrbitRuntime:
        return self.settings["orbit_runtime"]


class StatusHandler(_OrbitHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        km = self.kernel_manager
        kernels = []
        for model in km.list_kernels():
            info = self.runtime.kernels.get(model["id"], {})
            kernels.append({**model, **info})
        self.finish(
            json.dumps(
                {
                    "orbit": __version__,
                    "profile": self.runtime.profile.name,
                    "root_dir": str(self.runtime.root_dir),
                    "pid": os.getpid(),
                    "kernels": kernels,
                    "pool": self.runtime.pool.status(),
                    "pool_usage": self.runtime.pool.usage(),
                    "spares": self.runtime.spares.status(),
                    "engine": self.runtime.default_engine,
                    "allow_host_access": self.runtime.allow_host_access,
                },
                default=str,
            )
        )


class RunHandler(_OrbitHandler):
    """Execute a notebook in an environment that is already built; stream results as JSON lines.

    A request beyond what the server was started with is refused (403) before anything runs."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from jupyter_orbit.errors import OrbitError
        from jupyter_orbit.server.execute import check_request, run_streaming

        body = self.get_json_body() or {}
        for key in ("notebook", "cwd"):  # and env_id, or a notebook's path as session
            if key not in body:
                raise web.HTTPError(400, f"missing {key}")
        try:
            request = check_request(self.runtime, body)
        except OrbitError as err:
            raise web.HTTPError(403, f"{err.message}; {err.hint}") from None
        self.set_header("Content-Type", "application/x-ndjson")

        async def emit(event: dict) -> None:
            self.write(json.dumps(event, default=str) + "\n")
            await self.flush()

        await run_streaming(self.runtime, request, emit)
        self.finish()


def handlers() -> list[tuple[str, type]]:
    return [
        (r"/orbit/api/status", StatusHandler),
        (r"/orbit/api/run", RunHandler),
    ]


# Each feature keeps its handlers in a module of its own, listed here; each has handlers().
HANDLER_MODULES = (
    "jupyter_orbit.server.extension",
    "jupyter_orbit.server.bazaar_api",
    "jupyter_orbit.server.extensions_api",
    "jupyter_orbit.server.launcher",
    "jupyter_orbit.server.login",
    "jupyter_orbit.server.builds",
)


class OrbitExtension(ExtensionApp):
    name = "jupyter_orbit"
    load_other_extensions = True

    pool_per_env = Int(1, config=True, help="Warm kernels kept per recently used environment.")
    pool_max_envs = Int(
        3, config=True, help="How many recently used environments keep warm kernels."
    )
    pool_memory_mb = Int(
        None,
        allow_none=True,
        config=True,
        help="MiB the warm kernels may hold together (None: sized from the machine's RAM).",
    )
    hot_add_spares = Int(
        1,
        config=True,
        help="Clones of running kernels' environments kept ready, so `orbit add` need not "
        "copy one first (0: none; each takes the environment's size on disk).",
    )
    default_engine = Unicode(
        "local", config=True, help="The engine for notebooks whose sources name none."
    )
    allow_host_access = Bool(
        False, config=True, help="Let notebooks ask for container options that reach the host."
    )
    announcements = Bool(
        False,
        config=True,
        help="JupyterLab's news feed and update checks, which ask a web site; off, the server "
        "asks nothing of the network that a notebook did not ask for.",
    )
    prewarm_kernels = List(
        Unicode(),
        ["python"],
        config=True,
        help="Kernel recipes kept warm from the start for new notebooks in the server's root "
        "(the launcher's cards); bounded by pool_max_envs.",
    )

    def initialize_settings(self) -> None:
        root = Path(self.serverapp.root_dir).resolve()
        paths = Paths.from_env()
        profile = paths.profile(os.environ.get("ORBIT_PROFILE", DEFAULT_PROFILE))
        runtime = rt.OrbitRuntime(
            paths=paths,
            profile=profile,
            root_dir=root,
            kernel_env=dict(os.environ),
            log=self.log,
            pool_per_env=self.pool_per_env,
            pool_max_envs=self.pool_max_envs,
            pool_memory_mb=self.pool_memory_mb,
            hot_add_spares=self.hot_add_spares,
            default_engine=self.default_engine,
            allow_host_access=self.allow_host_access,
        )
        runtime.serve_bundles()  # the installed bundles' stand-in registries, if any
        rt.install(runtime)
        self.settings["orbit_runtime"] = runtime
        # JupyterLab checkpoints every notebook it opens: keep them out of the project.
        keep_in_profile(self.serverapp.contents_manager, profile.root / "checkpoints")

    def initialize_handlers(self) -> None:
        for module in HANDLER_MODULES:
            self.handlers += importlib.import_module(module).handlers()

    async def _start_jupyter_server_extension(self, serverapp: object) -> None:
        runtime = self.settings["orbit_runtime"]
        self._reaping = asyncio.ensure_future(runtime.reap_orphans())
        runtime.prewarm_recent()
        runtime.prewarm_defaults(list(self.prewarm_kernels), runtime.root_dir)
        self._loading = asyncio.ensure_future(asyncio.to_thread(_load_first_start, serverapp))

    async def stop_extension(self) -> None:
        runtime = rt.current()
        if runtime is not None:
            await runtime.spares.shutdown()
            await runtime.pool.shutdown()
            runtime.stop_bundles()
            rt.install(None)


def _load_first_start(serverapp: object) -> None:
    """What the first kernel's start would load on its way (~0.1 s for a notebook someone
    waits on): the kernelspecs with their provisioners' look-up, and the provisioner's module.
    In a thread as the server starts; a failure here is the first start's to report."""
    with contextlib.suppress(Exception):
        serverapp.kernel_spec_manager.get_all_specs()  # type: ignore[attr-defined]
        importlib.import_module("jupyter_orbit.server.provisioner")
