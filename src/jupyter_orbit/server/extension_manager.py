"""jupyter_server's extension manager, remembering which server extensions failed and how.

jupyter_server logs a server extension that fails to import, link, load or start and carries on;
Orbit needs to know, to roll back an extension that breaks the server (``orbit ext add``) and to
show it (``/orbit/api/extensions``). Each step runs as jupyter_server runs it, asked to raise,
and the failure is recorded here and logged the way jupyter_server would have.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jupyter_server.extension.manager import ExtensionManager
from traitlets import Dict


class RecordingExtensionManager(ExtensionManager):
    failures = Dict(help="Extension name -> {'stage', 'error'} for each one that failed.")

    @contextlib.contextmanager
    def _recording(self, name: str, stage: str) -> Iterator[None]:
        app = self.serverapp
        reraise = bool(app and app.reraise_server_extension_failures)
        if app is not None:
            app.reraise_server_extension_failures = True
        try:
            yield
        except Exception as e:
            if reraise:
                raise
            self.failures[name] = {"stage": stage, "error": f"{type(e).__name__}: {e}"}
            self.log.warning("%s | extension failed (%s): %r", name, stage, e, exc_info=True)
        finally:
            if app is not None:
                app.reraise_server_extension_failures = reraise

    def add_extension(self, extension_name: str, enabled: bool = False) -> bool:
        added = False
        with self._recording(extension_name, "import"):
            added = super().add_extension(extension_name, enabled=enabled)
        return added

    def link_extension(self, name: str) -> None:
        with self._recording(name, "link"):
            super().link_extension(name)

    def load_extension(self, name: str) -> None:
        if name in self.failures:
            return
        with self._recording(name, "load"):
            super().load_extension(name)

    async def start_extension(self, name: str) -> None:
        if name in self.failures:
            return
        with self._recording(name, "start"):
            await super().start_extension(name)

    def status(self) -> dict[str, dict]:
        """Every server extension the server was asked for, and whether it works."""
        out: dict[str, dict] = {}
        for name, enabled in sorted(self.serverapp.jpserver_extensions.items()):
            failure = self.failures.get(name)
            out[name] = {
                "enabled": bool(enabled),
                "loaded": bool(enabled) and failure is None and name in self.extensions,
                "error": failure,
            }
        return out
