"""The bazaar's REST API: search, and add/remove packages (installed into running kernels).

``GET /orbit/api/search?q=…&for=NOTEBOOK&in=pypi,npm`` and ``POST /orbit/api/packages`` with
``{"action": "add"|"remove", "target": PATH, "packages": [...], "ecosystem": …, "file": …,
"dry_run": false, "to_notebook": false}``. Paths are relative to the server's root (or absolute
inside it). Both are ``APIHandler``s like every Orbit endpoint: token or cookie authenticated,
XSRF-checked for browser requests, authorised against the "kernels" resource (adding packages
runs installs).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.server.extension import _OrbitHandler

_BACKGROUND: set[asyncio.Future] = set()


def _later(work: Any) -> None:
    """Run the coroutine ``work`` without waiting for it (kept referenced until done)."""
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


class _BazaarHandler(_OrbitHandler):
    def inside_root(self, value: str, what: str) -> Path:
        root = self.runtime.root_dir
        path = (root / value).resolve() if not Path(value).is_absolute() else Path(value).resolve()
        if not path.is_relative_to(root):
            raise InputError(f"{what} {value} is outside the server's folder {root}", None)
        return path

    def fail(self, err: OrbitError) -> None:
        self.set_status(400 if isinstance(err, InputError) else 422)
        self.finish(json.dumps(err.to_dict()))


class SearchHandler(_BazaarHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from jupyter_orbit.bazaar.search import search

        query = self.get_query_argument("q", "")
        target = self.get_query_argument("for", None)
        where = self.get_query_argument("in", None)
        try:
            notebook = self.inside_root(target, "notebook") if target else None
            result = await asyncio.to_thread(
                search,
                self.runtime.paths,
                query,
                ecosystems=[e for e in where.split(",") if e] if where else None,
                notebook=notebook,
                limit=int(self.get_query_argument("limit", "10")),
            )
        except OrbitError as err:
            return self.fail(err)
        self.finish(json.dumps(result))


class PackagesHandler(_BazaarHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        from jupyter_orbit.bazaar import edit
        from jupyter_orbit.bazaar.hot import clone_ahead_for, give_back, hot_update

        body = self.get_json_body() or {}
        action = body.get("action", "add")
        packages = body.get("packages")
        if action not in ("add", "remove") or not isinstance(packages, list):
            raise web.HTTPError(400, "expected action add|remove and a list of packages")
        spares: dict = {}
        try:
            target = self.inside_root(str(body.get("target", ".")), "target")
            file = self.inside_root(str(body["file"]), "file") if body.get("file") else None
            if action == "add" and not body.get("dry_run"):  # cloned while the check runs
                spares = clone_ahead_for(self.runtime, target)
            change = await asyncio.to_thread(
                edit.run,
                self.runtime.paths,
                target,
                [str(p) for p in packages],
                action=action,
                ecosystem=body.get("ecosystem"),
                file=file,
                dry_run=bool(body.get("dry_run")),
                to_notebook=bool(body.get("to_notebook")),
            )
        except OrbitError as err:
            _later(give_back(self.runtime, spares))  # the answer does not wait for the clone
            return self.fail(err)
        except BaseException:
            _later(give_back(self.runtime, spares))
            raise
        report = change.to_dict()
        report["pins"] = change.pins
        report["kernels"] = []
        if not body.get("dry_run"):
            report["kernels"] = await hot_update(
                self.runtime, self.kernel_manager, change.target, change.pins or None, spares
            )
        else:
            report["diff"] = edit.diff(change)
        self.finish(json.dumps(report))


def handlers() -> list[tuple[str, type]]:
    return [
        (r"/orbit/api/search", SearchHandler),
        (r"/orbit/api/packages", PackagesHandler),
    ]
