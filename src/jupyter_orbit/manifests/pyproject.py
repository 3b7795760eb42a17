"""pyproject.toml: the ``[project]`` table's ``dependencies`` and ``requires-python``.

Only what a kernel environment needs is read: the project's own runtime dependencies and its
Python range. The project itself is not installed, and extras are not either (a note says so).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.ecosystems.pypi import pypi_requirement
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import add_note, line_of, load_toml, python_request, read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level, Requirement

_HEADER = re.compile(r"^\s*\[")
_PROJECT_HEADER = re.compile(r"^\s*\[\s*project\s*\]")


def _key_line(text: str, key: str) -> int | None:
    """The line of ``key = …`` inside the ``[project]`` table (or as ``project.key = …``)."""
    lines = text.splitlines()
    header = line_of(text, _PROJECT_HEADER)
    if header is not None:
        rx = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in range(header + 1, len(lines) + 1):
            if _HEADER.match(lines[number - 1]):
                break
            if rx.match(lines[number - 1]):
                return number
    return line_of(text, rf"^\s*project\s*\.\s*{re.escape(key)}\s*=")


def _entry_lines(text: str, key: int | None, entries: list[str]) -> list[int | None]:
    """Best-effort line of each dependency string: scan forward from the ``dependencies`` key.

    tomllib does not report positions, so this finds each entry's quoted text in order; an
    entry that cannot be found (escapes, odd layouts) gets the key's line.
    """
    if key is None:
        return [None] * len(entries)
    lines = text.splitlines()
    out: list[int | None] = []
    cursor = key - 1  # 0-based index of the line to search from
    for entry in entries:
        found = None
        for i in range(cursor, len(lines)):
            if i > key - 1 and _HEADER.match(lines[i]):
                break
            if f'"{entry}"' in lines[i] or f"'{entry}'" in lines[i]:
                found = i
                break
        out.append(key if found is None else found + 1)
        cursor = found if found is not None else cursor
    return out


class PyprojectToml(Manifest):
    """Reads ``[project] dependencies`` and ``requires-python`` from ``pyproject.toml``.

    A file without a ``[project]`` table or without ``dependencies`` contributes nothing.
    """

    name: ClassVar[str] = "pyproject.toml"
    filenames: ClassVar[tuple[str, ...]] = ("pyproject.toml",)
    precedence: ClassVar[int] = 40
    read_together: ClassVar[bool] = True
    ecosystems: ClassVar[tuple[str, ...]] = ("pypi",)

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        text = read_text(path)
        data = load_toml(text, path)
        out = Contribution(self.name, path, level)
        tool = data.get("tool")
        if isinstance(tool, dict) and "uv" in tool:
            add_note(
                out,
                f"{path.name}: [tool.uv] is not applied (uv reads no project configuration; "
                "package indexes come from your profile)",
            )
        project = data.get("project")
        if project is None:
            return out
        if not isinstance(project, dict):
            raise InputError(
                "[project] is not a table",
                "write it as a [project] section",
                path=path,
                line=line_of(text, r"^\s*project\s*="),
            )
        if "dependencies" in (project.get("dynamic") or []):
            add_note(
                out,
                f"{path.name}: dependencies are dynamic (set by the build backend) and not read",
            )
        if "requires-python" in project:  # read with or without dependencies, as repo2docker does
            out.python = python_request(
                project["requires-python"],
                what="[project] requires-python",
                path=path,
                line=_key_line(text, "requires-python"),
            )
        deps = project.get("dependencies")
        if deps is None:
            return out
        key_line = _key_line(text, "dependencies")
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise InputError(
                "[project] dependencies must be a list of strings",
                'write it as dependencies = ["numpy>=1.26", "pandas"]',
                path=path,
                line=key_line,
            )
        out.declares.add("pypi")
        for dep, line in zip(deps, _entry_lines(text, key_line, deps), strict=True):
            out.requirements.append(pypi_requirement(dep, self.origin(path, line, level)))
        self._note_extras(project.get("optional-dependencies"), out, path)
        return out

    def python_ignored(self, present: Collection[str], *, binder: bool) -> str | None:
        if "runtime.txt" in present:
            return "runtime.txt beats requires-python (repo2docker's rule)"
        for other in ("environment.yml", "Pipfile"):
            if other in present:
                return f"repo2docker's {other} build does not read requires-python"
        if binder:
            return "repo2docker reads requires-python only from a pyproject.toml outside binder/"
        return None

    @staticmethod
    def _note_extras(extras: Any, out: Contribution, path: Path) -> None:
        if isinstance(extras, dict) and extras:
            names = ", ".join(sorted(extras))
            add_note(out, f"{path.name}: optional dependencies ({names}) are not installed")

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        return edit_text(text, path=path, add=add, remove=remove)


# -- writing (round trip) -------------------------------------------------------------------


def edit_text(
    text: str, *, path: Path, add: Iterable[Requirement] = (), remove: Iterable[str] = ()
) -> str:
    """Edit ``[project] dependencies`` with tomlkit, which keeps comments, quoting and layout.

    New entries take the quoting style of the entries already there (a literal 'string' if they
    use those); an entry that is replaced keeps its place and comment.
    """
    import tomlkit
    from packaging.requirements import Requirement as PEP508
    from packaging.utils import canonicalize_name

    from jupyter_orbit.manifests._lines import missing_error

    load_toml(text, path)  # a clear error, at its line, for a broken file
    doc = tomlkit.parse(text)
    project = doc.get("project")
    if project is None:
        raise InputError(
            "no [project] table to add dependencies to",
            "add a [project] table, or name a requirements.txt with --file",
            path=path,
        )
    if "dependencies" in (project.get("dynamic") or []):
        raise InputError(
            "[project] dependencies are dynamic (set by the build backend)",
            "list the package where the build backend reads it, or use --file requirements.txt",
            path=path,
        )
    if "dependencies" not in project:
        project["dependencies"] = tomlkit.array()
    deps = project["dependencies"]

    def name(item: object) -> str | None:
        try:
            return canonicalize_name(PEP508(str(item)).name)
        except Exception:
            return None

    gone = set(remove)
    missing = sorted(gone - {name(d) for d in deps})
    if missing:
        raise missing_error(missing, f"[project] dependencies of {path.name}", path)
    for i in range(len(deps) - 1, -1, -1):
        if name(deps[i]) in gone:
            del deps[i]
    literal = any(getattr(d, "type", None) == tomlkit.items.StringType.SLL for d in deps)
    for req in add:
        value = tomlkit.string(req.text, literal=literal and "'" not in req.text)
        index = next((i for i, d in enumerate(deps) if name(d) == req.name), None)
        if index is None:
            deps.append(value)
        else:
            deps[index] = value
    return tomlkit.dumps(doc)
