"""Where packages come from when bundles are installed: the stand-in registries.

After ``orbit bundle install`` the profile's server starts real registry servers on loopback
that serve the installed bundles (``bundle/registries.py``) and records where they listen: a
``Serving``. Those addresses then *are* the profile's package indexes — the user's own act of
installing a bundle made them so, and nothing a project says can change that — for the builds
the pipeline runs (``using`` around the build stage; ``uvcli`` and the npm ecosystem read
``current()``) and for the kernels it launches (their installers' variables, ``kernel_env``),
so that ``%pip install``, ``!uv pip install`` and ``!npm install`` in a notebook reach the
bundle and nothing else. Nothing here is process-wide: a ``Serving`` is handed down by the
caller (``prepare.Choices.offline``) and is in force only around the calls it is given to.

A bundle was resolved as of its date when it was built and carries exactly those versions; the
PyPI stand-in (pypiserver) reports no upload times, so uv's date options, which would then hide
every file, are left out while installing from it (``uv_args``).

A package that no installed bundle carries is said so, naming what is there:
"offline: X is not in the bundle (bundled: …)" (``not_bundled``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from jupyter_orbit.errors import BuildError

RECORD = "registries.json"  # in the profile's runtime folder, while its server serves bundles

# How each ecosystem's installer says a package was not found (group "name").
NOT_FOUND: Mapping[str, tuple[str, ...]] = {
    "pypi": (
        r"Because (?P<name>[A-Za-z0-9._-]+) was not found in the package registry",
        r"there (?:is|are) no versions? of (?P<name>[A-Za-z0-9._-]+)",
        r"No matching distribution found for (?P<name>[A-Za-z0-9._-]+)",
    ),
    "npm": (
        r"404 Not Found - GET \S+/(?P<name>(@[^/\s]+/)?[^/\s]+) - no such package available",
        r"404 '?(?P<name>(@[^/\s@]+/)?[^@\s']+)@\S*'? is not in this registry",
    ),
    "apt": (r"Unable to locate package (?P<name>[a-z0-9][a-z0-9+.-]*)",),
}
# Variables that would send an installer somewhere else as well (left out while serving).
_OTHER_SOURCES = (
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
)
_DATED = ("--exclude-newer", "--exclude-newer-package")


class NotBundled(BuildError):
    """A package asked for on a machine that installs from bundles is in none of them."""

    dated = False  # no other date would help


def not_in_bundle(missing: str, bundled: Sequence[str], ecosystem: str = "pypi") -> NotBundled:
    """ "offline: X is not in the bundle (bundled: …)", with how to get it there."""
    shown = ", ".join(bundled[:20]) + (f", … ({len(bundled)} in all)" if len(bundled) > 20 else "")
    return NotBundled(
        f"offline: {missing} is not in the bundle (bundled: {shown or 'nothing'})",
        f"build a bundle that carries {missing} on a machine with a network "
        "(`orbit bundle NOTEBOOK -o FILE`) and install it here too (`orbit bundle install "
        f"FILE`: bundles are layered); or take {missing} out of the notebook's {ecosystem} "
        "packages",
    )


def _canonical(ecosystem: str, name: str) -> str:
    if ecosystem == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


@dataclass(frozen=True)
class Serving:
    """The stand-in registries that are up: where each ecosystem installs from, and what they
    carry (names per ecosystem: pypi, npm, apt)."""

    pypi: str | None = None  # a PEP 503 index URL on 127.0.0.1
    npm: str | None = None  # an npm registry URL on 127.0.0.1
    apt: str | None = None  # the flat apt repository (a file: URL; `deb [trusted=yes] URL ./`)
    bundled: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    owner: int | None = None  # the pid of the process that runs them

    def installer_env(self) -> dict[str, str]:
        """The variables that point uv, pip and npm at the stand-ins (a kernel gets them)."""
        out: dict[str, str] = {}
        if self.pypi:
            out.update(UV_DEFAULT_INDEX=self.pypi, UV_INDEX_URL=self.pypi, PIP_INDEX_URL=self.pypi)
        if self.npm:
            out["npm_config_registry"] = self.npm
        return out

    def apply(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` sending installers to the stand-ins only (other sources left out)."""
        if self.pypi:
            for key in _OTHER_SOURCES:
                env.pop(key, None)
        env.update(self.installer_env())
        return env

    def not_bundled(self, ecosystem: str, output: str) -> NotBundled | None:
        """The installer's failure ``output`` as "offline: X is not in the bundle", when that
        is what it says (None otherwise, and for a name that is bundled in another version:
        the installer's own message says which)."""
        flat = " ".join(output.split())
        bundled = list(self.bundled.get(ecosystem, ()))
        for pattern in NOT_FOUND.get(ecosystem, ()):
            if m := re.search(pattern, flat):
                name = unquote(m.group("name"))
                if _canonical(ecosystem, name) in {_canonical(ecosystem, b) for b in bundled}:
                    return None
                return not_in_bundle(name, bundled, ecosystem)
        return None

    def to_json(self) -> str:
        data = {
            "pypi": self.pypi,
            "npm": self.npm,
            "apt": self.apt,
            "bundled": {k: list(v) for k, v in sorted(self.bundled.items())},
            "owner": self.owner,
        }
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Serving | None:
        try:
            data = json.loads(text)
            bundled = {str(k): tuple(map(str, v)) for k, v in data.get("bundled", {}).items()}
            return cls(data.get("pypi"), data.get("npm"), data.get("apt"), bundled, data["owner"])
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    @classmethod
    def recorded(cls, runtime_dir: Path) -> Serving | None:
        """What the profile's running server serves (its record), if it is still running."""
        from jupyter_orbit.state import pid_alive

        try:
            serving = cls.from_json((runtime_dir / RECORD).read_text())
        except OSError:
            return None
        if serving is None or serving.owner is None or not pid_alive(serving.owner):
            return None
        return serving


_current: contextvars.ContextVar[Serving | None] = contextvars.ContextVar(
    "orbit_offline_serving", default=None
)


@contextlib.contextmanager
def using(serving: Serving | None) -> Iterator[None]:
    """Install from ``serving`` (if any) in the calls made inside this block."""
    token = _current.set(serving)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Serving | None:
    return _current.get()


def uv_environ(env: dict[str, str]) -> dict[str, str]:
    """``env`` for uv, pointed at the stand-ins while a build installs from them."""
    serving = current()
    return serving.apply(env) if serving is not None and serving.pypi else env


def uv_args(args: Sequence[str]) -> list[str]:
    """``args`` without uv's date options while installing from the PyPI stand-in (see the
    module's doc)."""
    serving = current()
    if serving is None or not serving.pypi:
        return list(args)
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _DATED:
            skip = True
        elif not arg.startswith(tuple(f"{d}=" for d in _DATED)):
            out.append(arg)
    return out


def registry(ecosystem: str) -> str | None:
    """The stand-in URL ``ecosystem`` installs from now (None: its usual registry)."""
    serving = current()
    return getattr(serving, ecosystem, None) if serving is not None else None


def not_bundled(ecosystem: str, output: str) -> NotBundled | None:
    """``Serving.not_bundled`` of the stand-ins in force (None when none are)."""
    serving = current()
    return serving.not_bundled(ecosystem, output) if serving is not None else None
