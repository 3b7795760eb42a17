"""``GET /orbit/api/extensions``: the profile's JupyterLab extensions, as this server runs them.

For the launcher page and for ``orbit ext``: which extensions the profile chose, which packages
of the server environment provide lab or server extensions, whether JupyterLab sees each lab
extension, and whether each server extension loaded (with the error when it did not).
"""

from __future__ import annotations

import json
import sys

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from packaging.utils import canonicalize_name
from tornado import web


class ExtensionsHandler(APIHandler):
    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps(self._report(), default=str))

    def _report(self) -> dict:
        from jupyter_orbit.errors import OrbitError
        from jupyter_orbit.server import discover
        from jupyter_orbit.settings import read

        runtime = self.settings["orbit_runtime"]
        manager = self.serverapp.extension_manager
        server_status = manager.status() if hasattr(manager, "status") else {}
        chosen: dict[str, str] = {}
        settings_error = None
        try:
            if runtime.profile.settings_file.exists():
                chosen = read(runtime.profile.settings_file).server.extension_names()
        except OrbitError as e:
            settings_error = e.to_dict()
        lab_seen = self._lab_extensions()
        items = []
        for name, provided in discover.extensions().items():
            items.append(
                {
                    **provided.to_dict(),
                    "chosen": name in chosen,
                    "requirement": chosen.get(name),
                    "labextensions": [
                        {"name": lab, "seen_by_lab": lab in lab_seen}
                        for lab in provided.labextensions
                    ],
                    "server_extensions": [
                        {"module": mod, **server_status.get(mod, {"enabled": False})}
                        for mod in provided.server_extensions
                    ],
                }
            )
        installed = {i["package"] for i in items}
        return {
            "profile": runtime.profile.name,
            "prefix": sys.prefix,
            "jupyterlab": _version("jupyterlab"),
            "extensions": items,
            # chosen but not installed: the server runs from an environment made before the change
            "missing": sorted(n for n in chosen if canonicalize_name(n) not in installed),
            "server_extensions": server_status,
            "settings_error": settings_error,
        }

    def _lab_extensions(self) -> set[str]:
        from jupyterlab_server.config import get_federated_extensions

        paths: list[str] = []
        for app in self.serverapp.extension_manager.extension_apps.get("jupyterlab", set()):
            paths += getattr(app, "extra_labextensions_path", [])
            paths += getattr(app, "labextensions_path", [])
        return set(get_federated_extensions(paths)) if paths else set()


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def handlers() -> list[tuple[str, type]]:
    return [(r"/orbit/api/extensions", ExtensionsHandler)]
