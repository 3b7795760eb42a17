"""Desktop integration: a launcher, an icon and the ``.ipynb`` association on each platform.

One description of the launcher (``Launcher``) becomes a plan per platform — an XDG desktop
entry on Linux, a Start-menu shortcut and per-user registry keys on Windows, an ``.app``
applet on macOS — made of small actions (write this file, set this registry value, run this
tool). Plans are pure and printable (``orbit install-desktop --dry-run``), so every platform's
is unit-tested from any machine; ``apply`` carries one out here.

Every launcher runs ``orbit open [FILE]``, which opens the notebook in the profile's running
server, starting one only when none runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError

NOTEBOOK_MIME = "application/x-ipynb+json"
NOTEBOOK_UTI = "org.jupyter.ipynb"
PLATFORMS = ("linux", "windows", "macos")
_ASSETS = Path(__file__).parent


@dataclass(frozen=True)
class Launcher:
    """What every platform's launcher is made from."""

    name: str
    ident: str  # file-name-safe id: jupyter-orbit, jupyter-orbit-teaching
    comment: str
    python: str  # the interpreter Orbit runs on (absolute)
    args: tuple[str, ...]  # after the interpreter; a file to open is appended
    profile: str | None
    claims_notebooks: bool  # becomes the default application for .ipynb files

    @property
    def svg(self) -> bytes:
        return (_ASSETS / "orbit.svg").read_bytes()

    @property
    def png(self) -> bytes:
        return (_ASSETS / "orbit-256.png").read_bytes()


def launcher(profile: str | None = None, python: str | None = None) -> Launcher:
    """The launcher of the default profile (``profile=None``), or of one named profile."""
    # -P: a file manager may start it in the notebook's folder; nothing is imported from there.
    args: tuple[str, ...] = ("-P", "-m", "jupyter_orbit", "open")
    if profile:
        args += ("--profile", profile)
    return Launcher(
        name="Jupyter Orbit" + (f" ({profile})" if profile else ""),
        ident="jupyter-orbit" + (f"-{profile.lower()}" if profile else ""),
        comment="Notebooks in any language, each in its own reproducible environment",
        python=python or sys.executable,
        args=args,
        profile=profile,
        claims_notebooks=profile is None,
    )


# -- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteFile:
    path: Path
    data: bytes
    mode: int = 0o644

    def describe(self) -> str:
        return f"write {self.path} ({len(self.data)} bytes)"


@dataclass(frozen=True)
class RemovePath:
    path: Path

    def describe(self) -> str:
        return f"remove {self.path}"


@dataclass(frozen=True)
class RunCommand:
    argv: tuple[str, ...]
    why: str
    optional: bool = True  # a missing tool is noted, not an error

    def describe(self) -> str:
        return f"run {' '.join(self.argv)}  ({self.why})"


@dataclass(frozen=True)
class DefaultApp:
    """Make ``desktop_id`` the default application for ``mime`` in an XDG mimeapps.list
    (or, with ``remove``, stop it being one)."""

    path: Path
    mime: str
    desktop_id: str
    remove: bool = False

    def describe(self) -> str:
        verb = "unset" if self.remove else "set"
        return f"{verb} {self.desktop_id} as the default for {self.mime} in {self.path}"


@dataclass(frozen=True)
class RegistryValue:
    """A string value under HKEY_CURRENT_USER (``delete`` removes the whole key instead)."""

    key: str
    name: str = ""
    value: str = ""
    delete: bool = False

    def describe(self) -> str:
        if self.delete:
            return f"delete HKCU\\{self.key}"
        return f"set HKCU\\{self.key} [{self.name or '(default)'}] = {self.value}"


@dataclass(frozen=True)
class MergePlist:
    path: Path
    values: dict[str, Any] = field(hash=False)

    def describe(self) -> str:
        return f"merge {', '.join(sorted(self.values))} into {self.path}"


Action = WriteFile | RemovePath | RunCommand | DefaultApp | RegistryValue | MergePlist


def current_platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def plan(
    platform: str, what: Launcher, environ: dict[str, str], home: Path, *, uninstall: bool = False
) -> list[Action]:
    from jupyter_orbit.desktop import linux, macos, windows

    planners = {"linux": linux, "windows": windows, "macos": macos}
    if platform not in planners:
        raise InputError(f"unknown platform {platform!r}", f"use one of: {', '.join(PLATFORMS)}")
    module = planners[platform]
    return (
        module.uninstall(what, environ, home) if uninstall else module.install(what, environ, home)
    )


def apply(actions: list[Action]) -> list[str]:
    """Carry out ``actions`` on this machine; returns notes (tools that were missing or failed)."""
    notes = []
    for action in actions:
        if isinstance(action, WriteFile):
            atomic.write_bytes(action.path, action.data, mode=action.mode)
        elif isinstance(action, RemovePath):
            if action.path.is_dir() and not action.path.is_symlink():
                shutil.rmtree(action.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    action.path.unlink()
        elif isinstance(action, RunCommand):
            if note := _run(action):
                notes.append(note)
        elif isinstance(action, DefaultApp):
            from jupyter_orbit.desktop.linux import edit_mimeapps

            old = action.path.read_text(encoding="utf-8") if action.path.exists() else ""
            new = edit_mimeapps(old, action.mime, action.desktop_id, remove=action.remove)
            if new != old:
                atomic.write_text(action.path, new)
        elif isinstance(action, RegistryValue):
            from jupyter_orbit.desktop.windows import set_registry

            set_registry(action)
        elif isinstance(action, MergePlist):
            import plistlib

            data = plistlib.loads(action.path.read_bytes()) if action.path.exists() else {}
            data.update(action.values)
            atomic.write_bytes(action.path, plistlib.dumps(data))
    return notes


def _run(action: RunCommand) -> str | None:
    tool = action.argv[0]
    if shutil.which(tool) is None and not Path(tool).is_file():
        if action.optional:
            return f"skipped {tool}: not installed ({action.why})"
        raise InputError(f"{tool} is not installed", f"it is needed to {action.why}")
    env = {k: v for k, v in os.environ.items()}
    r = subprocess.run(list(action.argv), capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        detail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["failed"]
        message = f"{tool} failed ({action.why}): {detail[0]}"
        if not action.optional:
            raise InputError(message, "see the message above")
        return message
    return None
