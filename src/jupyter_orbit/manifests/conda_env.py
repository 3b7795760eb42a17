"""environment.yml (conda's environment file), read without a conda channel.

Until the conda ecosystem is available, conda package names are mapped to their PyPI names and
installed from PyPI. That works for most of the Python packages people list; packages that only
exist in conda (interpreters, compilers, C libraries) are skipped with a note, and a short rename
table covers the best-known packages whose names differ.

Conda match specs understood (the version part becomes a PEP 440 specifier):

====================================  =====================
``numpy``                             ``numpy``
``numpy=1.26`` (conda's fuzzy ``=``)  ``numpy==1.26.*``
``numpy==1.26.4``                     ``numpy==1.26.4``
``numpy>=1.2,<2``                     ``numpy>=1.2,<2``
``numpy 1.26.*`` / ``numpy 1.8*``     ``numpy==1.26.*`` / ``numpy==1.8.*``
``numpy=1.26=py311_0`` (build)        ``numpy==1.26.*`` (build dropped)
``conda-forge::numpy`` (channel)      ``numpy`` (channel dropped)
``numpy[version='>=1.2']``            ``numpy>=1.2``
====================================  =====================

An OR (``numpy=1.1|1.2``) is refused: there is no single PEP 440 range for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit import untrusted
from jupyter_orbit.ecosystems.conda import package_name
from jupyter_orbit.ecosystems.conda_names import (
    no_pypi,
    parse_match_spec,
    python_version,
)
from jupyter_orbit.ecosystems.conda_names import pypi_name as conda_pypi_name
from jupyter_orbit.ecosystems.pypi import pypi_requirement
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import add_note, binder_python, python_request, read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.manifests.requirements import RequirementLines
from jupyter_orbit.model import Level, Origin, Requirement

CONDA_NOTE = "conda packages mapped to PyPI names (no conda channel in use)"


def _line(seq: Any, index: int) -> int | None:
    """The 1-based line of a sequence item, when the YAML loader kept positions."""
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def _key_line(mapping: Any, key: str) -> int | None:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def load_yaml(text: str, path: Path) -> Any:
    """Parse YAML (keeping line positions); errors become an ``InputError`` at their line."""
    from ruamel.yaml import YAML  # imported here: most projects have no environment.yml
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if untrusted.bracket_depth(text) > untrusted.MAX_DEPTH:  # refused before ruamel tries
        raise untrusted.too_deep(path, path.name)
    try:
        return untrusted.parse(YAML(typ="rt").load, text, path=path, what=path.name)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        where = f"line {line}" if line else "the reported place"
        raise InputError(
            f"malformed YAML in {path.name}: {e.problem or e.context}",
            f"fix the YAML syntax at {where}",
            path=path,
            line=line,
        ) from None
    except YAMLError as e:
        raise InputError(
            f"malformed YAML in {path.name}: {e}", "fix the YAML syntax", path=path
        ) from None


class EnvironmentYml(Manifest):
    """Reads conda's ``environment.yml``, mapping conda packages to PyPI ones (see module doc)."""

    name: ClassVar[str] = "environment.yml"
    filenames: ClassVar[tuple[str, ...]] = ("environment.yml", "environment.yaml")
    precedence: ClassVar[int] = 10
    new_text: ClassVar[str] = "dependencies:\n"
    ecosystems: ClassVar[tuple[str, ...]] = ("conda", "pypi")

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        data = load_yaml(read_text(path), path)
        out = Contribution(self.name, path, level)
        if data is None:
            return out
        if not isinstance(data, dict):
            raise InputError(
                f"{path.name} is not a mapping at the top level",
                "start it with keys such as 'channels:' and 'dependencies:'",
                path=path,
                line=1,
            )
        self._channels(data, out, path)
        if "variables" in data:
            add_note(out, f"{path.name}: 'variables' are not set in the environment")
        if "dependencies" not in data:
            return out
        deps = data["dependencies"] or []
        if not isinstance(deps, list):
            raise InputError(
                "'dependencies' in environment.yml is not a list",
                "write each dependency as a '- name' item under 'dependencies:'",
                path=path,
                line=_key_line(data, "dependencies"),
            )
        out.declares.add("pypi")
        skipped: list[str] = []
        for i, item in enumerate(deps):
            origin = self.origin(path, _line(deps, i), level)
            if isinstance(item, str):
                self._conda(item, origin, out, skipped, path)
            elif isinstance(item, dict) and list(item) == ["pip"]:
                self._pip(item["pip"], origin, out, root=root, path=path)
            else:
                raise InputError(
                    f"dependency {i + 1} in environment.yml is neither a package nor a pip list",
                    "write a conda spec such as '- numpy=1.26' or a '- pip:' list of requirements",
                    path=path,
                    line=origin.line,
                )
        if skipped:
            names = ", ".join(dict.fromkeys(skipped))
            add_note(out, f"skipped conda packages with no PyPI equivalent: {names}")
        return out

    def _channels(self, data: dict[str, Any], out: Contribution, path: Path) -> None:
        channels = data.get("channels") or []
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise InputError(
                "'channels' in environment.yml is not a list of names",
                "write each channel as a '- conda-forge' item under 'channels:'",
                path=path,
                line=_key_line(data, "channels"),
            )
        if channels:
            add_note(out, f"conda channels are not used yet: {', '.join(channels)}")

    def _conda(
        self, item: str, origin: Origin, out: Contribution, skipped: list[str], path: Path
    ) -> None:
        name, terms = parse_match_spec(item, origin)
        if name.lower() == "python":
            if terms:
                version = python_request(
                    python_version(terms), what="python", path=path, line=origin.line
                )
                # A plain version is major.minor, as repo2docker takes it; a range stays one.
                out.python = binder_python(version) if version[:1].isdigit() else version
            return
        if no_pypi(name):
            skipped.append(name)
            return
        pypi_name = conda_pypi_name(name)
        text = pypi_name + ",".join(terms)
        try:
            out.requirements.append(pypi_requirement(text, origin))
        except InputError:
            raise InputError(
                f"the conda spec {item!r} has no PyPI equivalent ({text!r} is not PEP 508)",
                "use a PEP 440 version such as 'name>=1.2', or list the package under '- pip:'",
                path=path,
                line=origin.line,
            ) from None
        add_note(out, CONDA_NOTE)

    def _pip(
        self, lines: Any, origin: Origin, out: Contribution, *, root: Path, path: Path
    ) -> None:
        lines = lines or []
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise InputError(
                "the 'pip:' entry in environment.yml is not a list of requirement strings",
                "write each requirement as a '- name' item under '- pip:'",
                path=path,
                line=origin.line,
            )
        reader = RequirementLines(out, root=root, kind=self.name, level=origin.level)
        numbered = [(_line(lines, j) or origin.line, text) for j, text in enumerate(lines)]
        reader.read_lines(numbered, path=path)

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        return edit_text(
            text,
            path=path,
            add=add,
            remove=remove,
            section="pip" if ecosystem == "pypi" else "conda",
        )


# -- writing (round trip) -------------------------------------------------------------------


def _yaml_scalar(text: str, quote: str = "") -> str:
    """``text`` as a YAML block-sequence item, in the quoting of the item it replaces when it
    can be (plain when YAML reads it back as it is, else double-quoted)."""
    from ruamel.yaml import YAML

    if quote == "'" and "'" not in text:
        return f"'{text}'"
    if quote == '"':
        return json.dumps(text)
    try:
        if YAML(typ="safe").load(f"- {text}\n") == [text]:
            return text
    except Exception:
        pass
    return json.dumps(text)


def edit_text(
    text: str,
    *,
    path: Path,
    add: Iterable[Requirement] = (),
    remove: Iterable[str] = (),
    section: str = "conda",
) -> str:
    """Edit the conda ``dependencies`` (``section="conda"``) or their ``pip:`` list.

    ruamel.yaml finds where each item is; the edit itself splices whole lines, so every other
    line (comments, quoting, odd indentation) stays byte-identical. New items copy the
    indentation of the item before them; a missing ``pip:`` list is created after the last conda
    package (with ``pip`` itself, which conda needs to install it).
    """
    from jupyter_orbit.manifests._lines import Lines, missing_error

    data = load_yaml(text, path)
    if data is None or not isinstance(data, dict):
        raise InputError(
            f"{path.name} has no 'dependencies:' list to edit",
            "add a 'dependencies:' list, or name another file with --file",
            path=path,
        )
    deps = data.get("dependencies")
    if not deps and not list(remove) and "dependencies" in data:
        return _fill_empty(text, data, path, list(add), section)
    if (
        not isinstance(deps, list)
        or not deps
        or (getattr(deps, "fa", None) is not None and deps.fa.flow_style())
    ):
        raise InputError(
            f"'dependencies' in {path.name} is not a block list Orbit can edit line by line",
            "write it as '- name' items, one per line",
            path=path,
            line=_key_line(data, "dependencies"),
        )
    doc = Lines.of(text)
    pip_index = next(
        (i for i, d in enumerate(deps) if isinstance(d, dict) and list(d) == ["pip"]), None
    )
    if section == "pip":
        seq = deps[pip_index]["pip"] if pip_index is not None else None
        names = {i: _pip_name(s) for i, s in enumerate(seq or []) if isinstance(s, str)}
    else:
        seq = deps
        names = {i: (package_name(s) or "") for i, s in enumerate(deps) if isinstance(s, str)}
    gone = set(remove)
    missing = sorted(gone - set(names.values()))
    if missing:
        what = "the pip: list" if section == "pip" else "the conda dependencies"
        raise missing_error(missing, f"{what} of {path.name}", path)
    wanted = {r.name: r for r in add}
    # Replace and remove, bottom up so line numbers above stay valid.
    for i in sorted(names, reverse=True):
        line, col = seq.lc.item(i)  # type: ignore[union-attr]
        body = doc.body(doc.lines[line])
        if names[i] in gone:
            del doc.lines[line]
        elif names[i] in wanted:
            raw = body[col:]
            end = _scalar_end(raw)
            value = _yaml_scalar(wanted.pop(names[i]).text, quote=raw[:1])
            doc.replace(line, body[:col] + value + raw[end:])
    if wanted:  # read the edited text again: line numbers moved
        doc = Lines.of(doc.text())
        data = load_yaml(doc.text(), path)
        deps = data["dependencies"]
        pip_index = next(
            (i for i, d in enumerate(deps) if isinstance(d, dict) and list(d) == ["pip"]), None
        )
        seq = (
            deps
            if section != "pip"
            else (deps[pip_index]["pip"] if pip_index is not None else None)
        )
        _append(doc, deps, seq, section, pip_index, [r.text for r in wanted.values()])
    new = doc.text()
    _check_edit(new, path, section, add, gone)
    return new


def _pip_name(text: str) -> str:
    from packaging.requirements import Requirement as PEP508
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(PEP508(text).name)
    except Exception:
        return ""


def _scalar_end(raw: str) -> int:
    """Where the scalar at the start of ``raw`` ends (before a trailing comment)."""
    if raw[:1] in "\"'":
        quote, i = raw[0], 1
        while i < len(raw):
            if raw[i] == "\\" and quote == '"':
                i += 2
                continue
            if raw[i] == quote:
                if quote == "'" and raw[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return len(raw)
    m = re.search(r"\s+#", raw)
    return m.start() if m else len(raw.rstrip())


def _append(
    doc: Any, deps: Any, seq: Any, section: str, pip_index: int | None, items: list
) -> None:
    """Insert new items after the last item of ``seq`` (creating the pip: list if needed)."""
    strings = [i for i, d in enumerate(deps) if isinstance(d, str)]
    ref = strings[-1] if strings else 0
    line, col = deps.lc.item(ref)
    prefix = doc.body(doc.lines[line])[:col]  # e.g. "  - "
    if section == "pip" and seq is not None and len(seq):
        line, col = seq.lc.item(len(seq) - 1)
        prefix = doc.body(doc.lines[line])[:col]
        at = line + 1
    elif section == "pip" and seq is not None:  # "- pip:" with nothing under it
        line, _ = deps.lc.item(pip_index)
        at = line + 1
        prefix = " " * (len(prefix) + 2) + "- "
    elif section == "pip":
        at = (deps.lc.item(strings[-1])[0] + 1) if strings else deps.lc.item(0)[0]
        if not any(isinstance(d, str) and package_name(d) == "pip" for d in deps):
            doc.insert(at, prefix + "pip")
            at += 1
        doc.insert(at, prefix + "pip:")
        at += 1
        prefix = " " * len(prefix) + "  - "
    else:
        at = (line + 1) if strings else deps.lc.item(0)[0]
    for offset, text in enumerate(items):
        doc.insert(at + offset, prefix + _yaml_scalar(text))


def _check_edit(
    text: str, path: Path, section: str, add: Iterable[Requirement], gone: set[str]
) -> None:
    """Read the edited text back: every added item present, every removed one gone."""
    data = load_yaml(text, path)
    deps = data.get("dependencies") or []
    if section == "pip":
        pip = next((d["pip"] for d in deps if isinstance(d, dict) and "pip" in d), None) or []
        got = {_pip_name(s): s for s in pip}
    else:
        got = {package_name(s): s for s in deps if isinstance(s, str)}
    for r in add:
        if got.get(r.name) != r.text:
            raise InputError(
                f"could not edit {path.name} line by line (its layout is unusual)",
                f"add {r.text!r} by hand, or reformat the dependencies as '- name' lines",
                path=path,
            )
    if gone & set(got):
        raise InputError(
            f"could not remove {', '.join(sorted(gone & set(got)))} from {path.name}",
            "remove it by hand",
            path=path,
        )


def _fill_empty(text: str, data: Any, path: Path, add: list[Requirement], section: str) -> str:
    """``dependencies:`` (empty or ``[]``) becomes a block list holding the new items."""
    from jupyter_orbit.manifests._lines import Lines

    doc = Lines.of(text)
    line = _key_line(data, "dependencies")
    assert line is not None
    body = doc.body(doc.lines[line - 1])
    key = body[: body.index("dependencies")] + "dependencies:"
    comment = re.search(r"\s#.*$", body)
    doc.replace(line - 1, key + (comment.group(0) if comment else ""))
    items = [r.text for r in add]
    if section == "pip":
        items = ["pip", "pip:"]
    at = line
    for item in items:
        doc.insert(at, "  - " + (item if item == "pip:" else _yaml_scalar(item)))
        at += 1
    if section == "pip":
        for r in add:
            doc.insert(at, "    - " + _yaml_scalar(r.text))
            at += 1
    new = doc.text()
    _check_edit(new, path, section, add, set())
    return new
