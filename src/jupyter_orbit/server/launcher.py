"""The launcher: Orbit's kernel menu page and the API behind it.

``/orbit/launcher`` is a static page (shipped in ``jupyter_orbit/web``) with a strict
Content-Security-Policy: scripts, styles and images from this server only, no inline code.
Like every Jupyter page it needs the token (or the login cookie the token sets) and sends the
XSRF cookie back on every POST.

A click on a card is a *launch job*: the server creates the notebook, starts its session (the
provisioner resolves and builds the environment, or hands over a prewarmed kernel), waits until
the kernel answers, and streams every step to the page as server-sent events
(``/orbit/api/launcher/jobs/<id>/events``); the page then opens the notebook in JupyterLab,
where the session and its running kernel are found by the notebook's path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, FileFindHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from jupyter_orbit import __version__
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.execute import wait_ready
from jupyter_orbit.kernels.recipes import find_recipe, recipe_classes
from jupyter_orbit.server import runtime as rt
from jupyter_orbit.server.jobs import Job, JobProgress, stream

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_MAX_JOBS = 32


def web_dir() -> Path:
    return Path(str(resources.files("jupyter_orbit").joinpath("web")))


@dataclass
class LaunchJob(Job):
    """One click on a card: the notebook it created, for the recipe it names."""

    recipe: str = ""


class _Base(APIHandler):
    auth_resource = "kernels"  # launching starts kernels, which run code

    @property
    def runtime(self) -> rt.OrbitRuntime:
        return self.settings["orbit_runtime"]

    @property
    def jobs(self) -> dict[str, LaunchJob]:
        return self.settings.setdefault("orbit_launch_jobs", {})

    def offered(self) -> set[str] | None:
        """The kernels the profile offers (its ``defaults.kernels``; None: every recipe), read
        on each request so that `orbit config` applies at once."""
        from jupyter_orbit import settings

        path = self.runtime.profile.settings_file
        try:
            kernels = settings.read(path).defaults.kernels if path.exists() else None
        except OrbitError:  # a broken profile.toml is reported by `orbit config`, not here
            return None
        return None if kernels is None else set(kernels)

    def engines(self) -> list[tuple[str, str]]:
        """The places the menu offers for new notebooks' kernels, the server's default first."""
        from jupyter_orbit.engines.base import engine_offers

        offers = engine_offers(self.runtime.paths)
        default = self.runtime.default_engine
        return sorted(offers, key=lambda o: o[0] != default)

    def engine(self, chosen: str, engines: list[tuple[str, str]]) -> str | None:
        """The engine asked for (None: the server's default); 400 if the menu does not offer it."""
        if not chosen or chosen == self.runtime.default_engine:
            return None
        if chosen not in {i for i, _ in engines}:
            raise web.HTTPError(400, f"no place to run kernels called {chosen!r}")
        return chosen

    def folder(self, rel: str) -> tuple[str, Path]:
        """A folder under the server's root, given relative to it; 400 if it is not one."""
        rel = rel.strip().strip("/")
        root = self.runtime.root_dir
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.is_dir():
            raise web.HTTPError(400, f"{rel or '/'} is not a folder under {root}")
        cm = self.contents_manager
        if not cm.allow_hidden and any(p.startswith(".") for p in Path(rel).parts):
            raise web.HTTPError(400, f"{rel} is hidden")
        return path.relative_to(root).as_posix() if path != root else "", path


class LauncherPage(JupyterHandler):
    auth_resource = "kernels"

    @property
    def content_security_policy(self) -> str:
        return CSP

    @web.authenticated
    @authorized
    async def get(self) -> None:
        _ = self.xsrf_token  # sets the _xsrf cookie the page sends back with its requests
        page = (web_dir() / "launcher.html").read_text(encoding="utf-8")
        values = {
            "base_url": self.base_url,
            "static": url_path_join(self.base_url, "orbit/static/"),
            "version": __version__,
        }
        for key, value in values.items():
            page = page.replace("{{" + key + "}}", _attr(value))
        self.settings["orbit_runtime"].launcher_visits += 1
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.finish(page)


def _attr(value: str) -> str:
    import html

    return html.escape(value, quote=True)


class StateHandler(_Base):
    """Everything the page shows: the cards for a folder, recent projects, where things live."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from jupyter_orbit.server.catalog import recipe_states

        rel, folder = self.folder(self.get_argument("folder", ""))
        runtime = self.runtime
        engines = await asyncio.to_thread(self.engines)
        engine = self.engine(self.get_argument("engine", ""), engines)
        choices = dataclasses.replace(runtime.choices(), engine=engine)
        kernels = await asyncio.to_thread(recipe_states, runtime.paths, folder, choices)
        if (offered := self.offered()) is not None:
            kernels = [k for k in kernels if k["name"] in offered]
        warm = {p["env_id"] for p in runtime.pool.status() if p["ready"]}
        for k in kernels:
            k.pop("logo", None)
            k["warm"] = k.get("env_id") in warm
            if k["warm"] and k["state"] == "ready":
                k["detail"] = "a kernel is warm and waiting"
            k["logo_url"] = url_path_join(self.base_url, f"orbit/api/launcher/logos/{k['name']}")
        root = runtime.root_dir
        recent = []
        for p in runtime.recent_projects():
            path = Path(p["path"])
            inside = path.is_relative_to(root)
            recent.append(
                {
                    **p,
                    "name": path.name or str(path),
                    "rel": path.relative_to(root).as_posix() if inside else None,
                    "notebook_rel": _rel(Path(p.get("notebook", "")), root),
                }
            )
        self.finish(
            json.dumps(
                {
                    "orbit": __version__,
                    "profile": runtime.profile.name,
                    "root_dir": str(root),
                    "folder": rel,
                    "kernels": kernels,
                    # Where kernels can run (this machine, containers, remote hosts): new
                    # notebooks get the chosen one in their metadata (``orbit.engine``).
                    "engines": [{"id": i, "label": label} for i, label in engines],
                    "engine": engine or runtime.default_engine,
                    "recent": recent,
                    "pool": runtime.pool.status(),
                    "visits": runtime.launcher_visits,
                    # A place for other features to list things on the page (issue 6: extensions).
                    "sections": [],
                }
            )
        )


def _rel(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix() if path.is_file() else None
    except ValueError:
        return None


class LogoHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        recipe = find_recipe(name)
        svg = recipe.logo_svg() if recipe and recipe.name == name else ""
        if not svg:
            raise web.HTTPError(404)
        self.set_header("Cache-Control", "max-age=3600, private")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.finish(svg, set_content_type="image/svg+xml")


class LaunchHandler(_Base):
    """Create a notebook for a recipe in a folder and start preparing its kernel."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.get_json_body() or {}
        name = str(body.get("kernel", ""))
        if name not in recipe_classes():
            raise web.HTTPError(400, f"unknown kernel {name!r}")
        if (offered := self.offered()) is not None and name not in offered:
            raise web.HTTPError(400, f"profile {self.runtime.profile.name!r} does not offer {name}")
        recipe = recipe_classes()[name]()
        rel, folder = self.folder(str(body.get("folder", "")))
        packages = body.get("packages") or {}
        if not isinstance(packages, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in packages.values()
        ):
            raise web.HTTPError(400, "packages must map ecosystems to lists of requirements")
        engines = await asyncio.to_thread(self.engines)
        engine = self.engine(str(body.get("engine") or ""), engines)
        path = await self._create(recipe, rel, packages, engine)
        job = LaunchJob(secrets.token_urlsafe(12), path, recipe=recipe.name)
        jobs = self.jobs
        jobs[job.id] = job
        while len(jobs) > _MAX_JOBS:
            jobs.pop(next(iter(jobs)))
        job.emit({"step": "notebook", "detail": f"created {path}", "path": path})
        task = asyncio.ensure_future(self._launch(job, folder / Path(path).name))
        self.settings.setdefault("orbit_launch_tasks", set()).add(task)
        task.add_done_callback(self.settings["orbit_launch_tasks"].discard)
        self.set_status(201)
        self.finish(json.dumps({"job": job.id, "path": path}))

    async def _create(
        self, recipe: Any, rel: str, packages: dict[str, list[str]], engine: str | None = None
    ) -> str:
        import nbformat

        cm = self.contents_manager
        name = await ensure_async(cm.increment_filename("Untitled.ipynb", rel))
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": recipe.kernelspec_name,
            "display_name": recipe.display_name,
            "language": recipe.language,
        }
        if recipe.language_info:
            nb.metadata["language_info"] = dict(recipe.language_info)
        orbit: dict[str, Any] = {"kernel": recipe.name}
        if any(packages.values()):
            orbit["packages"] = {k: v for k, v in packages.items() if v}
        if engine:
            orbit["engine"] = engine
        nb.metadata["orbit"] = orbit
        nb.cells.append(nbformat.v4.new_code_cell(""))
        path = f"{rel}/{name}" if rel else name
        await ensure_async(cm.save({"type": "notebook", "format": "json", "content": nb}, path))
        return path

    async def _launch(self, job: LaunchJob, notebook: Path) -> None:
        runtime = self.runtime
        sessions = self.session_manager
        recipe = recipe_classes()[job.recipe]()
        sink = JobProgress(job, asyncio.get_running_loop())
        try:
            with runtime.watch(notebook, sink):
                model = await ensure_async(
                    sessions.create_session(
                        path=job.path,
                        name=notebook.name,
                        type="notebook",
                        kernel_name=recipe.kernelspec_name,
                    )
                )
            kernel_id = model["kernel"]["id"]
            info = runtime.kernels.get(kernel_id, {})
            problem = info.get("error")
            if problem:
                job.emit({"problem": problem})
            how = "prewarmed kernel handed over" if info.get("prewarmed") else "kernel starting"
            job.emit({"step": "kernel", "detail": how})
            build = runtime.builds.jobs.get(notebook.resolve())
            if build is not None:  # ends when the kernel answers, or says why it never will
                while not build.finished:
                    await build.changed(timeout=15)
                end = build.events[-1]
                if problem is None and not end.get("ok"):
                    problem = end.get("problem") or {"error": "the kernel could not start"}
                    job.emit({"problem": problem})
            else:
                km = self.kernel_manager.get_kernel(kernel_id)
                client = km.client()
                client.start_channels()
                try:
                    await wait_ready(km, client, 300)
                finally:
                    client.stop_channels()
            job.emit(
                {
                    "done": True,
                    "ok": problem is None,
                    "url": url_path_join("lab/tree", *job.path.split("/")),
                    "path": job.path,
                    "kernel_id": kernel_id,
                    "env_id": info.get("env_id"),
                    "prewarmed": bool(info.get("prewarmed")),
                }
            )
        except Exception as e:
            hint = e.hint if isinstance(e, OrbitError) else "see the server log (`orbit status`)"
            self.log.warning("Orbit: launching %s failed: %s", job.path, e)
            job.emit({"done": True, "ok": False, "error": str(e), "hint": hint, "path": job.path})


class JobEventsHandler(_Base):
    """Server-sent events: every step of a launch job, from the first (or after Last-Event-ID)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            raise web.HTTPError(404, "no such launch job")
        await stream(self, job)


def handlers() -> list[tuple[str, type, dict[str, Any]] | tuple[str, type]]:
    return [
        (r"/orbit/launcher", LauncherPage),
        (r"/orbit/static/(.*)", FileFindHandler, {"path": [str(web_dir())]}),
        (r"/orbit/api/launcher", StateHandler),
        (r"/orbit/api/launcher/logos/([a-z0-9_.-]+)", LogoHandler),
        (r"/orbit/api/launcher/launch", LaunchHandler),
        (r"/orbit/api/launcher/jobs/([A-Za-z0-9_-]+)/events", JobEventsHandler),
    ]
