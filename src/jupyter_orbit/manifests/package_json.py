"""package.json: npm's manifest, read for its ``dependencies`` and written as npm writes it.

npm rewrites package.json with ``JSON.stringify`` in the file's own indentation and line
ending, keeping key order; the writer here does the same (``JsonStyle``), so a file npm wrote
changes only in the lines of the packages added or removed. Entries are npm's ``name: range``;
in an ``EnvSpec`` they are ``name@range`` (``@scope/name@range`` for scoped packages).

The reader is not one of the project files every kernel reads: a ``package.json`` in a Python
project is usually a JupyterLab extension's, not the kernel's. npm packages a kernel needs are
declared in the notebook's ``metadata.orbit`` (``orbit add`` writes them there or here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit import untrusted
from jupyter_orbit.ecosystems.npm import Npm, split_npm
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level, Requirement

SECTIONS = ("dependencies", "devDependencies", "optionalDependencies")


def _load(text: str, path: Path) -> dict[str, Any]:
    try:
        data = untrusted.parse(untrusted.loads_marked, text, path=path, what=path.name)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path.name} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
            f"fix the JSON at line {e.lineno}",
            path=path,
            line=e.lineno,
        ) from None
    if found := untrusted.unclean(data, path.name):
        key, problem = found
        raise InputError(f"{key} {problem}", "keep one value for each key", path=path)
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not a JSON object", "start it with {", path=path)
    for section in SECTIONS:
        value = data.get(section, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InputError(
                f"{section} in {path.name} must map package names to version ranges",
                f'write it as "{section}": {{"lodash": "^4.17.21"}}',
                path=path,
            )
    return data


class PackageJson(Manifest):
    name: ClassVar[str] = "package.json"
    filenames: ClassVar[tuple[str, ...]] = ("package.json",)
    # A project's package.json is usually a JupyterLab extension's: written by `orbit add
    # --in npm`, never read as a source of a kernel's packages.
    project_source: ClassVar[bool] = False
    new_text: ClassVar[str] = '{\n  "private": true\n}\n'
    ecosystems: ClassVar[tuple[str, ...]] = ("npm",)

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        data = _load(read_text(path), path)
        out = Contribution(self.name, path, level, declares={"npm"})
        for section in ("dependencies", "optionalDependencies"):
            for name, spec in data.get(section, {}).items():
                text = f"{name}@{spec}" if spec and spec != "*" else name
                out.requirements.append(Npm.parse(text, self.origin(path, None, level)))
        return out

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        return edit_text(text, path=path, add=add, remove=remove)


def edit_text(
    text: str,
    *,
    path: Path,
    add: Iterable[Requirement] = (),
    remove: Iterable[str] = (),
    dev: bool = False,
) -> str:
    """Add (or update in the section holding it) and remove packages, as ``npm install`` does.

    A new package goes to ``dependencies`` (``devDependencies`` with ``dev``), in sorted place
    when the section is sorted (npm keeps them sorted), else at the end.
    """
    from jupyter_orbit.manifests._lines import missing_error
    from jupyter_orbit.manifests.notebook_edit import JsonStyle

    data = _load(text.lstrip("\ufeff"), path)
    style = JsonStyle.of(text.lstrip("\ufeff"), data)
    gone = set(remove)
    present = {n for s in SECTIONS for n in data.get(s, {})}
    missing = sorted(gone - present)
    if missing:
        raise missing_error(missing, path.name, path)
    for section in SECTIONS:
        for name in gone & set(data.get(section, {})):
            del data[section][name]
    for req in add:
        name, spec = split_npm(req.text)
        spec = spec or "*"
        section = next(
            (s for s in SECTIONS if name in data.get(s, {})),
            "devDependencies" if dev else "dependencies",
        )
        deps = data.setdefault(section, {})
        if name in deps or list(deps) != sorted(deps):
            deps[name] = spec
        else:
            deps[name] = spec
            data[section] = dict(sorted(deps.items()))
    return ("\ufeff" if text.startswith("\ufeff") else "") + style.dumps(data)
