"""A profile's settings: one TOML file (``profile.toml``), edited round-trip with tomlkit.

Orbit writes it and people may edit it by hand; either way every read checks it whole, and a
mistake is reported with the file, the key and what would be valid. Edits keep the person's
comments and ordering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError
from jupyter_orbit.hardware.accelerator import HardwareSettings

ALL_KERNELS = "all"
SERVICES = ("stop", "keep", "off")  # what becomes of services beside kernels (jupyter_orbit.beside)
MAX_EXTENSIONS = 64
MAX_POOL = 16
MAX_POOL_MEMORY_MB = 1 << 20  # a MiB count no machine reaches (1 TiB)
MAX_COOLDOWN = 365
# Parts of the server environment itself: an extension list may not replace them.
CORE_PACKAGES = frozenset({"jupyterlab", "jupyter-orbit", "jupyter-server", "jupyterlab-server"})
_PYTHON = re.compile(r"^3\.\d{1,2}(\.\d{1,3})?$")

HEADER = """\
# Settings of an Orbit profile. Orbit edits this file (`orbit ext`, `orbit config`,
# `orbit profile`); hand edits are fine and are checked whenever Orbit reads it.
"""


@dataclass(frozen=True)
class ServerSettings:
    python: str
    jupyterlab: str
    extensions: tuple[str, ...] = ()

    def extension_names(self) -> dict[str, str]:
        """Canonical package name -> the requirement as stored."""
        return {canonicalize_name(Requirement(e).name): e for e in self.extensions}


@dataclass(frozen=True)
class Defaults:
    engine: str = "local"
    kernels: tuple[str, ...] | None = None  # None: every kernel Orbit has a recipe for
    pool_per_env: int = 1
    pool_max_envs: int = 3
    # MiB the warm kernels may hold; None: sized from the machine's RAM (server/pool_memory.py)
    pool_memory_mb: int | None = None
    # clones of running kernels' environments kept ready for hot add (server/spares.py)
    hot_add_spares: int = 1
    announcements: bool = False  # JupyterLab's news feed and update checks (they go online)
    services: str = "stop"  # services beside kernels, after the last: "stop", "keep"; or "off"
    # Days a release must have been public before the kernel's own packages, moving forward
    # from a notebook's date, may take it (``jupyter_orbit.era``).
    cooldown_days: int = 7


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    defaults: Defaults = field(default_factory=Defaults)
    description: str = ""
    hardware: HardwareSettings = field(default_factory=HardwareSettings)  # [hardware]
    # Package indexes, find-links folders and trusted hosts a project may name (its
    # requirements.txt, metadata, PEP 723 block, Pipfile …): Orbit takes none that is not here.
    allowed_indexes: tuple[str, ...] = ()

    def with_extensions(self, extensions: list[str] | tuple[str, ...]) -> Settings:
        ordered = tuple(sorted(extensions, key=lambda e: canonicalize_name(Requirement(e).name)))
        return replace(self, server=replace(self.server, extensions=ordered))

    def to_toml(self) -> dict[str, Any]:
        d = self.defaults
        return {
            "description": self.description,
            "server": {
                "python": self.server.python,
                "jupyterlab": self.server.jupyterlab,
                "extensions": list(self.server.extensions),
            },
            "defaults": {
                "engine": d.engine,
                "kernels": ALL_KERNELS if d.kernels is None else list(d.kernels),
                "pool_per_env": d.pool_per_env,
                "pool_max_envs": d.pool_max_envs,
                "announcements": d.announcements,
                # written only when set: without it the budget follows the machine's RAM
                **({"pool_memory_mb": d.pool_memory_mb} if d.pool_memory_mb is not None else {}),
                # written once it differs from the default, so older files stay as they are
                **({"services": d.services} if d.services != Defaults.services else {}),
                **(
                    {"hot_add_spares": d.hot_add_spares}
                    if d.hot_add_spares != Defaults.hot_add_spares
                    else {}
                ),
                # written only when changed, so profiles made before keep their text
                **({"cooldown_days": d.cooldown_days} if d.cooldown_days != 7 else {}),
            },
            "indexes": {"allowed": list(self.allowed_indexes)},
        } | ({"hardware": hw} if (hw := self.hardware.to_dict()) else {})


def default_settings(*, python: str | None = None, jupyterlab: str | None = None) -> Settings:
    """What a new profile starts with: the Python and JupyterLab Orbit itself runs on."""
    from importlib import metadata

    from jupyter_orbit.pythons import default_python

    try:
        own_jupyterlab = metadata.version("jupyterlab")
    except metadata.PackageNotFoundError:
        own_jupyterlab = "4.2.0"
    return Settings(
        ServerSettings(python=python or default_python(), jupyterlab=jupyterlab or own_jupyterlab)
    )


# -- reading ----------------------------------------------------------------------------------

_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"description": str, "server": dict, "defaults": dict, "hardware": dict, "indexes": dict},
    "server": {"python": str, "jupyterlab": str, "extensions": list},
    "defaults": {
        "engine": str,
        "kernels": (str, list),
        "pool_per_env": int,
        "pool_max_envs": int,
        "pool_memory_mb": int,
        "announcements": bool,
        "services": str,
        "cooldown_days": int,
        "hot_add_spares": int,
    },
    "indexes": {"allowed": list},
}


def parse(text: str, path: Path) -> Settings:
    """Check ``text`` (the content of ``path``) whole and return the settings it holds."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        doc = tomlkit.parse(text).unwrap()
    except ParseError as e:
        raise InputError(
            f"not valid TOML: {e}",
            "fix the file, or remove it to start over",
            path=path,
            line=e.line,
        ) from None
    return from_dict(doc, path)


def from_dict(doc: dict[str, Any], path: Path | str) -> Settings:
    def bad(key: str, message: str, hint: str) -> InputError:
        return InputError(f"{key}: {message}", hint, path=path)

    for table, schema in _SCHEMA.items():
        data = doc if not table else doc.get(table, {})
        if not isinstance(data, dict):
            raise bad(f"[{table}]", "must be a table", f"write it as [{table}]")
        for key, value in data.items():
            name = f"{table}.{key}" if table else key
            if key not in schema:
                raise bad(name, "unknown setting", f"valid here: {', '.join(sorted(schema))}")
            want = schema[key]
            if (isinstance(value, bool) and want is not bool) or not isinstance(value, want):
                kinds = " or ".join(
                    t.__name__ for t in (want if isinstance(want, tuple) else (want,))
                )
                raise bad(name, f"must be a {kinds}, not {value!r}", "fix its value")

    server = doc.get("server", {})
    defaults = doc.get("defaults", {})
    if "python" not in server or "jupyterlab" not in server:
        raise bad(
            "[server]", "needs python and jupyterlab", 'e.g. python = "3.12", jupyterlab = "4.4.0"'
        )
    python = server["python"]
    if not _PYTHON.match(python):
        raise bad("server.python", f"{python!r} is not a Python version", 'write e.g. "3.12"')
    jupyterlab = server["jupyterlab"]
    try:
        Version(jupyterlab)
    except InvalidVersion:
        raise bad(
            "server.jupyterlab",
            f"{jupyterlab!r} is not a version",
            'write an exact one, e.g. "4.4.0"',
        ) from None
    extensions = check_extensions(server.get("extensions", []), path)

    kernels = defaults.get("kernels", ALL_KERNELS)
    if isinstance(kernels, str):
        if kernels != ALL_KERNELS:
            raise bad(
                "defaults.kernels", f"{kernels!r}", f'write "{ALL_KERNELS}" or a list of kernels'
            )
        kernel_list = None
    else:
        kernel_list = tuple(check_kernels(kernels, path))
    engine = defaults.get("engine", "local")
    check_engine(engine, path)
    pools = {}
    for key in ("pool_per_env", "pool_max_envs", "hot_add_spares"):
        value = defaults.get(key, getattr(Defaults, key))
        if not 0 <= value <= MAX_POOL:
            raise bad(f"defaults.{key}", f"{value} is out of range", f"use 0 to {MAX_POOL}")
        pools[key] = value
    memory = defaults.get("pool_memory_mb")
    if memory is not None and not 0 <= memory <= MAX_POOL_MEMORY_MB:
        raise bad(
            "defaults.pool_memory_mb",
            f"{memory} is out of range",
            "give the MiB warm kernels may hold (0: none), or leave it out to size it from the RAM",
        )
    pools["pool_memory_mb"] = memory
    announcements = defaults.get("announcements", False)
    services = defaults.get("services", Defaults.services)
    if services not in SERVICES:
        raise bad(
            "defaults.services",
            f"{services!r} is not one of {', '.join(SERVICES)}",
            '"stop": services stop after the last kernel using them; "keep": they stay up; '
            '"off": Orbit never starts them',
        )
    cooldown = defaults.get("cooldown_days", Defaults.cooldown_days)
    if not 0 <= cooldown <= MAX_COOLDOWN:
        raise bad(
            "defaults.cooldown_days", f"{cooldown} is out of range", f"use 0 to {MAX_COOLDOWN}"
        )
    pools["cooldown_days"] = cooldown
    allowed = doc.get("indexes", {}).get("allowed", [])
    if not all(isinstance(a, str) and a.strip() for a in allowed):
        raise bad(
            "indexes.allowed",
            "must list index URLs, find-links folders or hosts",
            'e.g. allowed = ["https://download.pytorch.org/whl/cpu"]',
        )
    return Settings(
        ServerSettings(python, jupyterlab, extensions),
        Defaults(
            engine=engine,
            kernels=kernel_list,
            announcements=announcements,
            services=services,
            **pools,
        ),
        description=doc.get("description", ""),
        hardware=HardwareSettings.from_dict(doc.get("hardware", {}), path),
        allowed_indexes=tuple(a.strip() for a in allowed),
    )


def check_extensions(items: list[Any], path: Path | str) -> tuple[str, ...]:
    if len(items) > MAX_EXTENSIONS:
        raise InputError(
            f"server.extensions: {len(items)} extensions (at most {MAX_EXTENSIONS})",
            "remove some",
            path=path,
        )
    seen: set[str] = set()
    out = []
    for item in items:
        if not isinstance(item, str):
            raise InputError(
                f"server.extensions: {item!r} is not a string", "write requirements", path=path
            )
        try:
            req = Requirement(item)
        except InvalidRequirement as e:
            raise InputError(
                f"server.extensions: {item!r} is not a valid requirement ({e})",
                'write e.g. "jupyterlab-execute-time==3.2.0"',
                path=path,
            ) from None
        name = canonicalize_name(req.name)
        if name in CORE_PACKAGES:
            raise InputError(
                f"server.extensions: {req.name} is part of the server environment itself",
                "choose JupyterLab's version with server.jupyterlab; leave Orbit's own out",
                path=path,
            )
        if name in seen:
            raise InputError(
                f"server.extensions: {req.name} is listed twice", "keep one", path=path
            )
        seen.add(name)
        out.append(item)
    return tuple(out)


def check_kernels(items: list[Any], path: Path | str) -> list[str]:
    from jupyter_orbit.plugins import RECIPES

    for k in items:
        if not isinstance(k, str) or RECIPES.find(k) is None:
            raise InputError(
                f"defaults.kernels: unknown kernel {k!r}",
                f'use some of: {", ".join(sorted(RECIPES.names()))} (or "{ALL_KERNELS}")',
                path=path,
            )
    return list(dict.fromkeys(items))


def check_engine(name: str, path: Path | str) -> str:
    from jupyter_orbit.plugins import ENGINES

    if ENGINES.find(name.partition(":")[0]) is None:
        raise InputError(
            f"defaults.engine: unknown engine {name!r}",
            f"use one of: {', '.join(sorted(ENGINES.names()))}",
            path=path,
        )
    return name


def cooldown_days(path: Path) -> int:
    """The profile's cool-down (``defaults.cooldown_days``), the default when it has no file."""
    return read(path).defaults.cooldown_days if path.exists() else Defaults.cooldown_days


def read(path: Path) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", "fix or remove the file", path=path) from None
    return parse(text, path)


# -- writing ----------------------------------------------------------------------------------


def render(settings: Settings, previous: str | None = None) -> str:
    """The file's new text: ``previous`` edited in place when given (comments survive)."""
    import tomlkit

    if previous is None:
        doc = tomlkit.document()
        for line in HEADER.splitlines():
            doc.add(tomlkit.comment(line.lstrip("# ")))
        doc.add(tomlkit.nl())
    else:
        doc = tomlkit.parse(previous)
    _merge(doc, settings.to_toml())
    return tomlkit.dumps(doc)


def _merge(table: Any, values: dict[str, Any], where: str = "") -> None:
    import tomlkit

    for key, value in values.items():
        if isinstance(value, dict):
            if key not in table:
                table[key] = tomlkit.table()
            _merge(table[key], value, key)
        elif key not in table or _plain(table[key]) != value:
            if isinstance(value, list):
                array = tomlkit.array()
                array.extend(value)
                if len(value) > 1:
                    array.multiline(True)
                table[key] = array
            else:
                table[key] = value
    if where:  # a setting written only when it differs from its default, now back to it
        for key in [k for k in table if k in _SCHEMA.get(where, {}) and k not in values]:
            del table[key]


def _plain(item: Any) -> Any:
    """A tomlkit item as a Python value (tomlkit hands booleans out as ``bool`` already)."""
    return item.unwrap() if hasattr(item, "unwrap") else item


def write(path: Path, settings: Settings) -> None:
    try:
        previous = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        previous = None
    atomic.write_text(path, render(settings, previous))
