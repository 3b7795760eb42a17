"""Pipfile (pipenv's TOML manifest) and, when it sits beside it, Pipfile.lock.

Like repo2docker, both ``[packages]`` and ``[dev-packages]`` are installed. When
``Pipfile.lock`` exists its pinned versions are used instead of the Pipfile's ranges; the
Pipfile still gives the Python version and package sources.

A package value may be ``"*"``, a specifier (``">=1.0"``) or a table with ``version``,
``extras``, ``markers`` (or marker variables as keys, pipenv's shorthand), ``git`` (+ ``ref``,
``subdirectory``), ``file`` or ``path`` (+ ``editable``). ``[[source]]`` entries other than PyPI
become index options: the first source replaces the default index, later ones are extra indexes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jupyter_orbit import untrusted
from jupyter_orbit.ecosystems.pypi import LOCK_KIND, pypi_requirement
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import (
    add_note,
    binder_python,
    line_of,
    load_toml,
    python_request,
    read_text,
)
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.manifests.requirements import local_path_requirement
from jupyter_orbit.model import Level, Origin, Requirement

PYPI_HOSTS = frozenset({"pypi.org", "pypi.python.org", "upload.pypi.org"})
LOCK_NOTE = "Pipfile.lock used: pinned versions (its hashes are not checked yet)"
# PEP 508 marker variables pipenv accepts directly as keys of a package table.
_MARKER_KEYS = (
    "os_name",
    "sys_platform",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
)
_VCS = ("git", "hg", "svn", "bzr")
_SECTION = re.compile(r"^\s*\[\s*([^\]\s]+)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_.\-]+))\s*=""")


def _toml_key_lines(text: str) -> dict[tuple[str, str], int]:
    """``(section, key) → line`` for the simple ``key = …`` lines of a TOML file."""
    out: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), 1):
        if m := _SECTION.match(line):
            section = m.group(1)
        elif m := _KEY.match(line):
            out.setdefault((section, next(g for g in m.groups() if g)), number)
    return out


def _bad(message: str, hint: str, origin: Origin) -> InputError:
    return InputError(message, hint, path=origin.path, line=origin.line)


def _strings(value: Any, what: str, origin: Origin) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _bad(f"{what} must be a string or a list of strings", f"fix {what}", origin)


def package_requirement(name: str, value: Any, *, origin: Origin, root: Path) -> Requirement:
    """One ``name = value`` entry of a Pipfile section or a Pipfile.lock section."""
    where = f"{name!r}"
    if isinstance(value, str):
        spec = "" if value.strip() == "*" else value.strip()
        return pypi_requirement(f"{name}{spec}", origin)
    if not isinstance(value, dict):
        raise _bad(
            f"the value for package {where} is neither a version string nor a table",
            f'write {name} = "*", {name} = ">=1.0" or {name} = {{version = ">=1.0"}}',
            origin,
        )
    extras = _strings(value.get("extras", []), f"extras of {where}", origin)
    markers = [f"({m})" for m in _strings(value.get("markers", []), f"markers of {where}", origin)]
    markers += [f"{key} {value[key]}" for key in _MARKER_KEYS if isinstance(value.get(key), str)]
    marker = " and ".join(markers)
    extras_text = f"[{','.join(extras)}]" if extras else ""
    vcs = next((v for v in _VCS if v in value), None)
    if vcs is not None:
        url = str(value[vcs])
        if not url.startswith(f"{vcs}+"):
            url = f"{vcs}+{url}"
        if value.get("ref"):
            url += f"@{value['ref']}"
        if value.get("subdirectory"):
            url += f"#subdirectory={value['subdirectory']}"
        text = f"{name}{extras_text} @ {url}" + (f" ; {marker}" if marker else "")
        return pypi_requirement(text, origin)
    local = value.get("path") or value.get("file")
    if isinstance(local, str) and "://" in local:
        text = f"{name}{extras_text} @ {local}" + (f" ; {marker}" if marker else "")
        return pypi_requirement(text, origin)
    if isinstance(local, str):
        if marker:
            raise _bad(
                f"markers on the local path of {where} are not supported",
                "remove the markers or install the package from an index",
                origin,
            )
        base = origin.path.parent if origin.path else root
        editable = bool(value.get("editable"))
        return local_path_requirement(
            local + extras_text, base=base, root=root, editable=editable, origin=origin
        )
    version = value.get("version", "*")
    if not isinstance(version, str):
        raise _bad(f"version of {where} must be a string", 'write version = ">=1.0"', origin)
    spec = "" if version.strip() == "*" else version.strip()
    return pypi_requirement(
        f"{name}{extras_text}{spec}" + (f"; {marker}" if marker else ""), origin
    )


def _index_options(sources: Any, origin: Origin) -> list[str]:
    """``[[source]]`` tables as index options; PyPI as the default index needs none."""
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise _bad("[[source]] entries must be tables", 'write [[source]] with url = "…"', origin)
    out: list[str] = []
    default_is_pypi = True
    for i, source in enumerate(sources):
        url = source.get("url")
        if not isinstance(url, str) or not url.strip():
            raise _bad(
                f"[[source]] number {i + 1} has no url", 'add url = "https://…/simple"', origin
            )
        host = urlsplit(url).hostname or ""
        pypi = host in PYPI_HOSTS
        if i == 0:
            default_is_pypi = pypi
            if pypi:
                continue
            out.append(f"--index-url {url}")
        elif pypi and default_is_pypi:
            continue
        else:
            out.append(f"--extra-index-url {url}")
        if source.get("verify_ssl") is False and host:
            out.append(f"--trusted-host {host}")
    return out


def _python(
    requires: dict[str, Any], what: str, path: Path, line: Callable[[str], int | None]
) -> str | None:
    """The Python of a ``requires`` table, as repo2docker reads it: ``python_full_version``,
    else ``python_version``, as major.minor (``3.11.13`` means 3.11)."""
    for key in ("python_full_version", "python_version"):
        value = requires.get(key)
        if value is None:
            continue
        python_request(value, what=f"{what}{key}", path=path, line=line(key))
        found = binder_python(str(value))
        if found is None:
            raise InputError(
                f"{what}{key} is not a Python version: {value!r}",
                "write a version such as '3.11'",
                path=path,
                line=line(key),
            )
        return found
    return None


class Pipfile(Manifest):
    """Reads ``Pipfile`` (and ``Pipfile.lock`` beside it, preferring its pins)."""

    name: ClassVar[str] = "Pipfile"
    filenames: ClassVar[tuple[str, ...]] = ("Pipfile",)
    precedence: ClassVar[int] = 20
    ecosystems: ClassVar[tuple[str, ...]] = ("pypi",)

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        raise InputError(
            "this project's PyPI packages come from its Pipfile, which Orbit does not write",
            "use `pipenv install NAME`, or name another file with --file",
            path=path,
        )

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        text = read_text(path)
        data = load_toml(text, path)
        lines = _toml_key_lines(text)
        out = Contribution(self.name, path, level, declares={"pypi"})
        requires = data.get("requires", {})
        if not isinstance(requires, dict):
            raise InputError("[requires] must be a table", "write [requires]", path=path)
        if "source" in data:
            source_line = line_of(text, r"^\s*\[\[\s*source\s*\]\]")
            options = _index_options(data["source"], self.origin(path, source_line, level))
            out.index_options += [o for o in options if o not in out.index_options]
        lock = path.with_name("Pipfile.lock")
        if lock.is_file():
            self._read_lock(lock, out, root=root, level=level)
        if out.python is None:  # the lock's Python first, as repo2docker reads them
            where = lambda key: lines.get(("requires", key))  # noqa: E731
            out.python = _python(requires, "[requires] ", path, where)
        if lock.is_file():
            return out
        for section in ("packages", "dev-packages"):
            packages = data.get(section, {})
            if not isinstance(packages, dict):
                raise InputError(
                    f"[{section}] must be a table",
                    f"write [{section}] with name = version lines",
                    path=path,
                )
            for name, value in packages.items():
                origin = self.origin(path, lines.get((section, name)), level)
                out.requirements.append(package_requirement(name, value, origin=origin, root=root))
            if section == "dev-packages" and packages:
                add_note(out, "Pipfile [dev-packages] are installed too (as repo2docker does)")
        return out

    def _read_lock(self, lock: Path, out: Contribution, *, root: Path, level: Level) -> None:
        text = read_text(lock)
        try:
            data = untrusted.parse(json.loads, text, path=lock, what=lock.name)
        except json.JSONDecodeError as e:
            raise InputError(
                f"Pipfile.lock is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
                "regenerate it with 'pipenv lock', or delete it to use the Pipfile",
                path=lock,
                line=e.lineno,
            ) from None
        if not isinstance(data, dict):
            raise InputError(
                "Pipfile.lock is not a JSON object", "regenerate it with 'pipenv lock'", path=lock
            )
        meta = data.get("_meta") if isinstance(data.get("_meta"), dict) else {}
        requires = meta.get("requires") if isinstance(meta.get("requires"), dict) else {}
        out.python = _python(requires, "_meta.requires.", lock, lambda k: None)
        if not out.index_options and "sources" in meta:
            out.index_options += _index_options(meta["sources"], self.origin(lock, None, level))
        for section in ("default", "develop"):
            packages = data.get(section, {})
            if not isinstance(packages, dict):
                raise InputError(
                    f"Pipfile.lock section {section!r} is not an object",
                    "regenerate it with 'pipenv lock'",
                    path=lock,
                    line=line_of(text, rf'^\s*"{section}"\s*:'),
                )
            start = line_of(text, rf'^\s*"{section}"\s*:') or 1
            for name, value in packages.items():
                line = line_of(text, rf'^\s*"{re.escape(name)}"\s*:', start)
                origin = Origin(LOCK_KIND, lock, line, level)  # exact: the lock decided
                out.requirements.append(package_requirement(name, value, origin=origin, root=root))
        add_note(out, LOCK_NOTE)
