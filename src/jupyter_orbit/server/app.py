"""The profile's Jupyter server process (``python -m jupyter_orbit.server``).

It is jupyter_server with JupyterLab and Orbit's extension, run from the profile's server
environment and configured by the profile's own config folder and that environment's
``etc/jupyter`` (where extensions enable their server parts) — no ``~/.jupyter``, no system
config, nothing from the project — with the safety settings applied last so no config file can
undo them. It binds its port itself
and keeps the socket, so the port it reports is the port it holds.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
from pathlib import Path

from jupyter_server.serverapp import ServerApp
from tornado.netutil import bind_sockets
from traitlets import default
from traitlets.config import Config

EXIT_PORT_IN_USE = 3
# JupyterLab's plugin that asks whether to fetch Jupyter's news and checks for updates online.
ANNOUNCEMENTS_PLUGIN = "@jupyterlab/apputils-extension:announcements"

# notebook_shim is left out: it loads classic-notebook extensions from outside the profile.
_OPTIONAL_EXTENSIONS = ("jupyter_server_terminals", "jupyter_lsp")


def enforced_config(data_dir: str) -> Config:
    c = Config()
    c.ServerApp.ip = "127.0.0.1"
    c.ServerApp.allow_remote_access = False
    # Requests come from the server's own pages or from scripts: no other origin, with a
    # token or not (server/auth.py), and only loopback names in Host (DNS rebinding).
    c.ServerApp.identity_provider_class = "jupyter_orbit.server.auth.OrbitIdentityProvider"
    c.ServerApp.local_hostnames = ["localhost"]
    c.ServerApp.allow_origin = ""
    c.ServerApp.allow_origin_pat = ""
    c.ServerApp.allow_credentials = False
    c.ServerApp.disable_check_xsrf = False
    c.ServerApp.trust_xheaders = False
    c.ServerApp.open_browser = False
    c.ServerApp.port_retries = 0
    c.ServerApp.allow_root = hasattr(os, "geteuid") and os.geteuid() == 0
    c.ServerApp.default_url = "/lab"
    c.ServerApp.kernel_spec_manager_class = (
        "jupyter_orbit.kernels.kernelspecs.ProfileKernelSpecManager"
    )
    # Files by their real path, inside the root only; saves that a kill cannot tear.
    c.ServerApp.contents_manager_class = "jupyter_orbit.server.contents.OrbitContentsManager"
    extensions = {"jupyterlab": True, "jupyter_orbit.server": True, "notebook_shim": False}
    extensions |= {e: True for e in _OPTIONAL_EXTENSIONS if importlib.util.find_spec(e)}
    c.ServerApp.jpserver_extensions = extensions
    # Extensions are chosen with `orbit ext` (a new environment, rolled back if it breaks);
    # JupyterLab's own manager would pip-install into a shared, content-addressed environment.
    c.LabApp.extension_manager = "readonly"
    # Prebuilt lab extensions from the profile and the server environment only (not ~/.local).
    c.LabServerApp.labextensions_path = [
        str(Path(data_dir) / "labextensions"),
        str(Path(__file__).parents[1] / "labextensions"),  # Orbit's own (the kernel-menu tile)
        str(Path(sys.prefix) / "share" / "jupyter" / "labextensions"),
    ]
    return c


def quiet_config() -> Config:
    """Nothing fetched from the web that nobody asked for: no news feed, no update check
    (unless the profile turns announcements on, ``OrbitExtension.announcements``)."""
    c = Config()
    c.LabApp.news_url = None
    c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
    return c


def quiet_page(page_config: dict) -> dict:
    """The page's config with JupyterLab's announcements plugin off: it neither asks on first
    start whether to fetch the news nor fetches them."""
    disabled = page_config.get("disabledExtensions")
    if isinstance(disabled, dict):
        disabled[ANNOUNCEMENTS_PLUGIN] = True
    else:
        page_config["disabledExtensions"] = [*(disabled or []), ANNOUNCEMENTS_PLUGIN]
    return page_config


def _switch(value: object) -> bool:
    """A config value that may still be the command line's text (``True``/``False``)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


class OrbitServerApp(ServerApp):
    name = "jupyter-orbit-server"
    description = "The Jupyter server of one Orbit profile."

    @default("no_browser_open_file")
    def _no_browser_open_file_default(self) -> bool:
        # jpserver-<pid>-open.html would hold the token in a file nobody removes when the
        # server is killed; Orbit hands pages to browsers its own way (browser.py).
        return True

    @property
    def config_file_paths(self) -> list[str]:
        # Highest priority first: the profile, then the server environment Orbit built.
        return [self.config_dir, str(Path(sys.prefix) / "etc" / "jupyter")]

    @default("config_file_name")
    def _config_file_name_default(self) -> str:
        # The profile's jupyter_server_config.* (ProfilePaths.server_config), not a file named
        # after this class.
        return "jupyter_server_config"

    def load_config_file(self, *args: object, **kwargs: object) -> None:
        super().load_config_file(*args, **kwargs)
        self.update_config(enforced_config(self.data_dir))
        if not self.announcements:
            self.update_config(quiet_config())

    @property
    def announcements(self) -> bool:
        return _switch(self.config.OrbitExtension.get("announcements", False))

    def init_webapp(self) -> None:
        super().init_webapp()
        if self.announcements:
            return
        previous = self.web_app.settings.get("page_config_hook")

        def hook(handler: object, page_config: dict) -> dict:
            if previous is not None:
                page_config = previous(handler, page_config)
            return quiet_page(page_config)

        self.web_app.settings["page_config_hook"] = hook

    def init_server_extensions(self) -> None:
        # As ServerApp does, with a manager that remembers which extensions failed and how.
        from jupyter_orbit.server.extension_manager import RecordingExtensionManager

        self.extension_manager = RecordingExtensionManager(log=self.log, serverapp=self)
        self.extension_manager.from_jpserver_extensions(self.jpserver_extensions)
        self.extension_manager.link_all_extensions()

    def _find_http_port(self) -> None:
        # Bind now and keep the socket (no bind-close-rebind race); port 0 lets the OS choose.
        try:
            self._orbit_sockets = bind_sockets(self.port, self.ip)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                self.log.critical("Orbit: port %s is already in use", self.port)
                self.exit(EXIT_PORT_IN_USE)
            raise
        self.port = self._orbit_sockets[0].getsockname()[1]

    def _bind_http_server_tcp(self) -> bool:
        self.http_server.add_sockets(self._orbit_sockets)
        return True


def main(argv: list[str] | None = None) -> None:
    OrbitServerApp.launch_instance(argv=argv)
