"""What a notebook says about its own environment: ``metadata.orbit`` and a PEP 723 block.

The notebook JSON is parsed once (``load_notebook``) and handed to both readers
(``read_metadata`` at the notebook's level, ``read_pep723`` at the PEP 723 level); the
``Manifest`` classes wrap them for callers that start from a path. The format of both is
documented in docs/notebook-metadata.md.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit import untrusted
from jupyter_orbit.ecosystems.pypi import pypi_requirement
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import (
    add_note,
    iso_timestamp,
    python_request,
    read_text,
)
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.manifests.requirements import normalize_index_option
from jupyter_orbit.model import Level, Lock, Origin

SCHEMA_VERSION = 1
ORBIT_KEYS = (
    "schema",
    "kernel",
    "python",
    "packages",
    "index_options",
    "as_of",
    "engine",
    "lock",
    "container",  # the kernel container's options; read by the docker engine when it launches
    "services",  # services beside the kernel; read when it launches (jupyter_orbit.beside)
    "hardware",  # GPUs and devices it needs: read by resolve (jupyter_orbit.hardware.needs)
)
LOCK_FORMATS = ("uv.lock", "requirements")
# The reference regular expression from PEP 723.
PEP723_BLOCK = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)
_TOML_POS = re.compile(r"at line (\d+)")

# [tool.uv] settings of a PEP 723 block that are read; others are reported as ignored.
_UV_KNOWN = frozenset(
    {
        "exclude-newer",
        "index-url",
        "extra-index-url",
        "find-links",
        "index",
        "no-index",
        "prerelease",
    }
)

METADATA_KIND = "metadata.orbit"
PEP723_KIND = "pep723"


def load_notebook(path: Path) -> dict[str, Any]:
    """Parse a ``.ipynb`` file and check that it is a notebook (nbformat 4 or later).

    Its metadata may not give a key twice or hold ``NaN`` (JSON allows neither; a parser
    would silently keep the last value), nor nest deeper than any real metadata does.
    """
    text = read_text(path, limit=untrusted.MAX_NOTEBOOK_BYTES)
    try:
        nb = untrusted.parse(untrusted.loads_marked, text, path=path, what=path.name, limit=None)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path.name} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
            f"fix the JSON at line {e.lineno}, or restore the notebook from a saved copy",
            path=path,
            line=e.lineno,
        ) from None
    if isinstance(nb, dict) and "metadata" in nb:
        _check_metadata(nb["metadata"], path)
    ok = isinstance(nb, dict) and isinstance(nb.get("cells"), list)
    version = nb.get("nbformat") if isinstance(nb, dict) else None
    if not ok or not isinstance(version, int) or isinstance(version, bool):
        raise InputError(
            f"{path.name} is not a Jupyter notebook (no 'cells' list and 'nbformat' number)",
            "open a .ipynb file saved by Jupyter",
            path=path,
        )
    if version < 4:
        raise InputError(
            f"{path.name} is a version {version} notebook; Orbit reads version 4 and later",
            "convert it: jupyter nbconvert --to notebook --nbformat 4 --inplace " + path.name,
            path=path,
        )
    return nb


def _check_metadata(meta: Any, path: Path) -> None:
    if found := untrusted.unclean(meta, "metadata"):
        key, problem = found
        raise InputError(
            f"the notebook's metadata key {key} {problem}",
            "keep one value for each key (Edit > Notebook metadata in JupyterLab)",
            path=path,
        )
    untrusted.check_depth(meta, path=path, what=f"the metadata of {path.name}")


def notebook_kernel(nb: dict[str, Any]) -> str | None:
    """The kernel a notebook was saved with: its kernelspec name, else its language."""
    names = notebook_kernels(nb)
    return names[0] if names else None


def notebook_kernels(nb: dict[str, Any]) -> list[str]:
    """What the notebook says about its kernel, most specific first: kernelspec name, languages."""
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return []
    spec = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    values = (spec.get("name"), spec.get("language"), info.get("name"))
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _metadata(nb: dict[str, Any]) -> dict[str, Any]:
    meta = nb.get("metadata")
    return meta if isinstance(meta, dict) else {}


class _Check:
    """Type checks on ``metadata.orbit`` whose errors name the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, value: Any) -> InputError:
        return InputError(
            f"{key} must be {expected}, not {json.dumps(value)[:60]}",
            f"fix {key} in the notebook's metadata (Edit > Notebook metadata in JupyterLab)",
            path=self.path,
        )

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "a non-empty string", value)
        return value.strip()

    def strings(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(key, "a list of strings", value)
        return [self.string(v, f"{key}[{i}]") for i, v in enumerate(value)]


def read_metadata(nb: dict[str, Any], path: Path, *, level: Level = Level.NOTEBOOK) -> Contribution:
    """Read ``metadata.orbit`` (schema 1) from a loaded notebook."""
    out = Contribution(METADATA_KIND, path, level)
    meta = _metadata(nb)
    if "orbit" not in meta:
        return out
    orbit, check = meta["orbit"], _Check(path)
    if not isinstance(orbit, dict):
        raise check.fail("metadata.orbit", "an object", orbit)
    schema = orbit.get("schema", SCHEMA_VERSION)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise check.fail("metadata.orbit.schema", "a positive integer", schema)
    if schema > SCHEMA_VERSION:
        raise InputError(
            f"metadata.orbit was written by a newer Orbit (schema {schema}; this one reads "
            f"{SCHEMA_VERSION})",
            "upgrade jupyter-orbit",
            path=path,
        )
    unknown = [k for k in orbit if k not in ORBIT_KEYS]
    if unknown:
        add_note(out, f"{path.name}: ignored unknown metadata.orbit keys: {', '.join(unknown)}")
    origin = Origin(METADATA_KIND, path, None, level)
    if "kernel" in orbit:
        out.kernel = check.string(orbit["kernel"], "metadata.orbit.kernel")
    if "engine" in orbit:
        out.engine = check.string(orbit["engine"], "metadata.orbit.engine")
    if "python" in orbit:
        out.python = python_request(orbit["python"], what="metadata.orbit.python", path=path)
    if "as_of" in orbit:
        out.as_of = iso_timestamp(orbit["as_of"], what="metadata.orbit.as_of", path=path)
    if "packages" in orbit:
        _packages(orbit["packages"], out, origin, check)
    if "index_options" in orbit:
        for text in check.strings(orbit["index_options"], "metadata.orbit.index_options"):
            out.index_options.append(normalize_index_option(text, path=path))
    if "lock" in orbit:
        out.lock = _lock(orbit["lock"], origin, check)
    return out


def _packages(value: Any, out: Contribution, origin: Origin, check: _Check) -> None:
    if not isinstance(value, dict):
        raise check.fail("metadata.orbit.packages", "an object of ecosystem: [requirements]", value)
    from jupyter_orbit.ecosystems import ecosystem_class, ecosystem_names

    for eco, items in value.items():
        key = f"metadata.orbit.packages.{eco}"
        try:
            cls = ecosystem_class(eco)
        except InputError:
            raise InputError(
                f"unknown ecosystem {eco!r} in metadata.orbit.packages",
                f"use one of: {', '.join(sorted(ecosystem_names()))}",
                path=origin.path,
            ) from None
        for i, text in enumerate(check.strings(items, key)):
            try:
                out.requirements.append(cls.parse_declared(text, origin))
            except InputError as err:
                raise InputError(f"{key}[{i}]: {err.message}", err.hint, path=origin.path) from None
        out.declares.add(eco)


def _lock(value: Any, origin: Origin, check: _Check) -> Lock:
    if not isinstance(value, dict):
        raise check.fail("metadata.orbit.lock", 'an object {"format": …, "text": …}', value)
    fmt = check.string(value.get("format"), "metadata.orbit.lock.format")
    if fmt not in LOCK_FORMATS:
        raise InputError(
            f"unknown lock format {fmt!r} in metadata.orbit.lock.format",
            f"use one of: {', '.join(LOCK_FORMATS)}",
            path=origin.path,
        )
    text = value.get("text")
    if not isinstance(text, str):
        raise check.fail("metadata.orbit.lock.text", "a string", text)
    return Lock(fmt, text, origin)


def _first_code_cell(nb: dict[str, Any], path: Path) -> tuple[int, str] | None:
    """``(index, source)`` of the first code cell, the source joined if stored as a list."""
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise InputError(
                f"cell {index + 1} of {path.name} has a malformed source",
                "re-save the notebook in Jupyter",
                path=path,
            )
        return index, source
    return None


def read_pep723(nb: dict[str, Any], path: Path, *, level: Level = Level.PEP723) -> Contribution:
    """Read a juv/uv-compatible PEP 723 ``script`` block from the notebook's first code cell.

    ``dependencies`` become pypi requirements, ``requires-python`` the Python request,
    ``[tool.uv] exclude-newer`` the date packages are resolved as of, and the script lock juv
    keeps in ``metadata["uv.lock"]`` the contribution's lock.
    """
    out = Contribution(PEP723_KIND, path, level)
    first = _first_code_cell(nb, path)
    index, source = first if first is not None else (-1, "")
    scripts = [m for m in PEP723_BLOCK.finditer(source) if m.group("type") == "script"]
    if not scripts:
        if "uv.lock" in _metadata(nb):
            add_note(out, f"{path.name}: metadata uv.lock ignored (no PEP 723 script block)")
        return out
    cell = f"the PEP 723 block in cell {index + 1} (the first code cell) of {path.name}"
    if len(scripts) > 1:
        raise InputError(
            f"cell {index + 1} (the first code cell) of {path.name} has more than one "
            "PEP 723 script block",
            "keep a single '# /// script' block",
            path=path,
        )
    block = scripts[0]
    data = _block_toml(block, source, cell, path)
    origin = Origin(PEP723_KIND, path, None, level)
    if "dependencies" in data:
        deps = data["dependencies"]
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise InputError(
                f"dependencies in {cell} must be a list of strings",
                'write dependencies = ["numpy>=1.26"]',
                path=path,
            )
        out.requirements += [pypi_requirement(d, origin) for d in deps]
        out.declares.add("pypi")
    if "requires-python" in data:
        out.python = python_request(
            data["requires-python"], what=f"requires-python in {cell}", path=path
        )
    tool = data.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, dict) else {}
    if not isinstance(uv, dict):
        raise InputError(f"[tool.uv] in {cell} is not a table", "write it as [tool.uv]", path=path)
    _uv_settings(uv, out, cell, path)
    lock = _metadata(nb).get("uv.lock")
    if isinstance(lock, str):
        out.lock = Lock("uv.lock", lock, origin)
    elif lock is not None:
        raise InputError(
            'metadata["uv.lock"] must be a string (the uv.lock text)',
            "re-lock the notebook with 'juv lock', or remove the key",
            path=path,
        )
    return out


def _block_toml(block: re.Match[str], source: str, cell: str, path: Path) -> dict[str, Any]:
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in block.group("content").splitlines(keepends=True)
    )
    try:
        return untrusted.parse(tomllib.loads, content, path=path, what=cell)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_POS.search(str(e))
        first = source[: block.start()].count("\n") + 1  # the "# /// script" line in the cell
        where = f"line {first + int(m.group(1))} of the cell" if m else "the end of the block"
        raise InputError(
            f"malformed TOML in {cell}: {e}",
            f"fix the TOML syntax at {where}",
            path=path,
        ) from None


def _uv_settings(uv: dict[str, Any], out: Contribution, cell: str, path: Path) -> None:
    """``[tool.uv]`` settings of a script that matter here; the rest is noted as ignored."""
    options: list[str] = []
    if "exclude-newer" in uv:
        what = f"[tool.uv] exclude-newer in {cell}"
        out.as_of = iso_timestamp(uv["exclude-newer"], what=what, path=path)
    if "index-url" in uv:
        options += [f"--index-url {v}" for v in _uv_strings(uv, "index-url", cell, path)]
    for key in ("extra-index-url", "find-links"):
        options += [f"--{key} {v}" for v in _uv_strings(uv, key, cell, path)]
    indexes = uv.get("index", [])
    if not isinstance(indexes, list) or not all(
        isinstance(i, dict) and isinstance(i.get("url"), str) for i in indexes
    ):
        raise InputError(
            f"[[tool.uv.index]] entries in {cell} must be tables with a url",
            'write [[tool.uv.index]] with url = "https://…/simple"',
            path=path,
        )
    for index in indexes:
        if index.get("explicit"):
            add_note(out, f"explicit uv index {index['url']} ignored (only used via sources)")
            continue
        flag = "--index-url" if index.get("default") else "--extra-index-url"
        options.append(f"{flag} {index['url']}")
    if uv.get("no-index") is True:
        options.append("--no-index")
    if uv.get("prerelease") == "allow":
        options.append("--prerelease allow")
    for text in options:
        option = normalize_index_option(text, path=path)
        if option not in out.index_options:
            out.index_options.append(option)
    ignored = sorted(k for k in uv if k not in _UV_KNOWN)
    if uv.get("prerelease", "allow") != "allow":
        ignored.append("prerelease")
    if ignored:
        add_note(
            out,
            f"{path.name}: ignored [tool.uv] settings in the PEP 723 block: {', '.join(ignored)}",
        )


def _uv_strings(uv: dict[str, Any], key: str, cell: str, path: Path) -> list[str]:
    value = uv.get(key, [])
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InputError(
            f"[tool.uv] {key} in {cell} must be a string or a list of strings",
            f'write {key} = ["https://…/simple"]',
            path=path,
        )
    return values


class NotebookMetadata(Manifest):
    """A notebook's ``metadata.orbit`` (the notebook level by default)."""

    name: ClassVar[str] = METADATA_KIND
    filenames: ClassVar[tuple[str, ...]] = ()

    def read(self, path: Path, *, root: Path, level: Level = Level.NOTEBOOK) -> Contribution:
        return read_metadata(load_notebook(path), path, level=level)


class Pep723Block(Manifest):
    """A notebook's PEP 723 ``script`` block in its first code cell."""

    name: ClassVar[str] = PEP723_KIND
    filenames: ClassVar[tuple[str, ...]] = ()

    def read(self, path: Path, *, root: Path, level: Level = Level.PEP723) -> Contribution:
        return read_pep723(load_notebook(path), path, level=level)
