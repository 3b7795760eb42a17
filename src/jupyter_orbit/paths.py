"""Every on-disk location Orbit uses, derived from one root (``ORBIT_HOME``).

A ``Paths`` value is made once at the edge (the CLI, the server process) and passed down; nothing
below reads the environment or keeps a module-level path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jupyter_orbit.errors import InputError

DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}


def check_profile_name(name: str) -> str:
    """Refuse names that are not a single safe path component on every platform."""
    if not _PROFILE_NAME.match(name) or name.endswith(".") or ".." in name:
        raise InputError(
            f"invalid profile name {name!r}",
            "use letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)",
        )
    if name.split(".")[0].lower() in _RESERVED:
        raise InputError(f"invalid profile name {name!r}: reserved on Windows", "pick another name")
    return name


@dataclass(frozen=True)
class ProfilePaths:
    """The folders of one profile: an isolated Jupyter installation."""

    name: str
    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "jupyter" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "jupyter" / "data"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "jupyter" / "runtime"

    @property
    def kernels_dir(self) -> Path:
        return self.data_dir / "kernels"

    @property
    def ipython_dir(self) -> Path:
        return self.root / "ipython"

    @property
    def browser_dir(self) -> Path:
        return self.root / "browser"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def server_state(self) -> Path:
        """The running server's url, token and pid (mode 0600)."""
        return self.root / "server.json"

    @property
    def token_file(self) -> Path:
        return self.runtime_dir / "orbit-token"

    @property
    def server_config(self) -> Path:
        return self.config_dir / "jupyter_server_config.json"

    @property
    def settings_file(self) -> Path:
        """The profile's own settings (TOML): server environment, extensions, defaults."""
        return self.root / "profile.toml"

    @property
    def lab_settings_dir(self) -> Path:
        return self.config_dir / "lab" / "user-settings"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "lab" / "workspaces"

    def jupyter_env(self) -> dict[str, str]:
        """Environment variables that point Jupyter and IPython at this profile only."""
        return {
            "JUPYTER_CONFIG_DIR": str(self.config_dir),
            "JUPYTER_DATA_DIR": str(self.data_dir),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "IPYTHONDIR": str(self.ipython_dir),
            "JUPYTERLAB_SETTINGS_DIR": str(self.lab_settings_dir),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workspaces_dir),
        }

    def ensure(self) -> ProfilePaths:
        for d in (
            self.config_dir,
            self.data_dir,
            self.runtime_dir,
            self.ipython_dir,
            self.logs_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)
        return self


@dataclass(frozen=True)
class Paths:
    """The data root and what lives under it."""

    home: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Paths:
        if home := environ.get("ORBIT_HOME"):
            return cls(Path(home).expanduser().resolve())
        import platformdirs

        return cls(platformdirs.user_data_path("orbit", appauthor=False))

    def profile(self, name: str = DEFAULT_PROFILE) -> ProfilePaths:
        return ProfilePaths(check_profile_name(name), self.profiles_dir / name)

    @property
    def profiles_dir(self) -> Path:
        return self.home / "profiles"

    @property
    def settings_file(self) -> Path:
        """Orbit-wide settings (TOML): which profile is the default."""
        return self.home / "orbit.toml"

    def default_profile(self, environ: Mapping[str, str] = os.environ) -> str:
        """ORBIT_PROFILE, else the profile chosen with ``orbit profile use``, else ``default``."""
        if name := environ.get("ORBIT_PROFILE"):
            return name
        import tomllib

        try:
            data = tomllib.loads(self.settings_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return DEFAULT_PROFILE
        name = data.get("default_profile")
        return name if isinstance(name, str) and name else DEFAULT_PROFILE

    def envs_dir(self, engine: str) -> Path:
        return self.home / "envs" / engine

    @property
    def notebook_dates_dir(self) -> Path:
        """The as-of dates Orbit remembers per notebook (``jupyter_orbit.notebook_dates``)."""
        return self.home / "notebook-dates"

    @property
    def trust_file(self) -> Path:
        return self.home / "trust.json"

    @property
    def services_dir(self) -> Path:
        """Per project: the state of its services beside the kernels, and their kernels' leases."""
        return self.home / "services"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"
