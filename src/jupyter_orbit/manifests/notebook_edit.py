"""Round-trip edits of a notebook file: its metadata and the PEP 723 block of its first cell.

A notebook is JSON, so "round trip" means: parse, change only what was asked, and serialise with
the file's own style (indent, key order, ASCII escaping, line endings, final newline), so every
other line of the file stays byte-identical. Jupyter's own style (indent 1, sorted keys, UTF-8)
is the common case. Writes are atomic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from jupyter_orbit import locking, untrusted
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.notebook import PEP723_BLOCK, load_notebook
from jupyter_orbit.model import Requirement

_INDENT = re.compile(r"^\{\r?\n( +|\t+)\S", re.S)


@dataclass(frozen=True)
class JsonStyle:
    indent: int | str | None
    sort_keys: bool
    ensure_ascii: bool
    newline: str
    final_newline: bool

    @classmethod
    def of(cls, text: str, data: Any) -> JsonStyle:
        m = _INDENT.match(text)
        indent: int | str | None = None
        if m:
            ws = m.group(1)
            indent = len(ws) if ws[0] == " " else ws
        return cls(
            indent=indent,
            sort_keys=_all_sorted(data),
            ensure_ascii="\\u" in text and not any(ord(c) > 127 for c in text),
            newline="\r\n" if "\r\n" in text else "\n",
            final_newline=text.endswith(("\n", "\r\n")),
        )

    def dumps(self, data: Any) -> str:
        out = json.dumps(
            data, indent=self.indent, sort_keys=self.sort_keys, ensure_ascii=self.ensure_ascii
        )
        if self.newline != "\n":
            out = out.replace("\n", self.newline)
        return out + (self.newline if self.final_newline else "")


def _all_sorted(data: Any) -> bool:
    if isinstance(data, dict):
        return list(data) == sorted(data) and all(_all_sorted(v) for v in data.values())
    if isinstance(data, list):
        return all(_all_sorted(v) for v in data)
    return True


def update_notebook(
    path: Path, change: Callable[[dict[str, Any]], None], *, expect: bytes | None = None
) -> bool:
    """Apply ``change`` to the parsed notebook and write it back if anything changed.

    The notebook is locked from the read to the write, and written only if it still holds
    what was read (``locking.FileChanged`` otherwise: JupyterLab or an editor saved it
    meanwhile). ``expect``: the bytes an earlier read saw, which the file must still hold.
    """
    with locking.locked(path):
        data = untrusted.read_bytes(path, limit=untrusted.MAX_NOTEBOOK_BYTES)
        if expect is not None and data != expect:
            raise locking.FileChanged(path)
        nb = load_notebook(path)
        text = data.decode("utf-8-sig")  # not read_text: keep "\r\n" as it is
        before = json.dumps(nb, sort_keys=True)
        change(nb)
        if json.dumps(nb, sort_keys=True) == before:
            return False
        after = JsonStyle.of(text, nb).dumps(nb)
        if data.startswith(b"\xef\xbb\xbf"):
            after = "\ufeff" + after
        locking.replace(path, data, after.encode("utf-8"))
    return True


def orbit_metadata(nb: dict[str, Any]) -> dict[str, Any]:
    """``metadata.orbit``, created (schema 1) if missing."""
    meta = nb.setdefault("metadata", {})
    orbit = meta.setdefault("orbit", {})
    orbit.setdefault("schema", 1)
    return orbit


def edit_pep723(
    nb: dict[str, Any], path: Path, edit: Callable[[tomlkit.TOMLDocument], None]
) -> bool:
    """Edit the TOML of the PEP 723 ``script`` block in the first code cell, if there is one.

    Returns False when the notebook has no block (nothing is added). The rest of the cell, and
    the comment formatting of untouched lines, are kept.
    """
    for cell in nb.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            break
    else:
        return False
    raw = cell.get("source", "")
    as_list = isinstance(raw, list)
    source = "".join(raw) if as_list else raw
    match = next((m for m in PEP723_BLOCK.finditer(source) if m.group("type") == "script"), None)
    if match is None:
        return False
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in match.group("content").splitlines(keepends=True)
    )
    try:
        doc = tomlkit.parse(content)
    except tomlkit.exceptions.TOMLKitError as e:
        raise InputError(
            f"the PEP 723 block of {path.name} is not valid TOML ({e})",
            "fix the block in the first code cell",
            path=path,
        ) from None
    edit(doc)
    body = "".join(
        f"# {line}" if line.strip() else "#\n" for line in tomlkit.dumps(doc).splitlines(True)
    )
    if not body.endswith("\n"):
        body += "\n"
    start, end = match.span("content")
    new = source[:start] + body + source[end:]
    if new == source:
        return False
    cell["source"] = new.splitlines(keepends=True) if as_list else new
    return True


def edited_text(path: Path, change: Callable[[dict[str, Any]], None]) -> str | None:
    """The file's new text after ``change``, in its own style, or None when nothing changes.

    For callers that check many notebooks before writing any (plan, then act).
    """
    nb = load_notebook(path)
    text = path.read_bytes().decode("utf-8-sig")
    before = json.dumps(nb, sort_keys=True)
    change(nb)
    if json.dumps(nb, sort_keys=True) == before:
        return None
    return JsonStyle.of(text, nb).dumps(nb)


def _name(ecosystem: str, text: str) -> str:
    """The name a requirement is matched by (as its ecosystem compares names)."""
    from jupyter_orbit.ecosystems import ecosystem_class

    return ecosystem_class(ecosystem).key(text)


def _edit_list(
    items: list[Any], ecosystem: str, add: Iterable[Requirement], gone: set[str]
) -> None:
    """Remove names in ``gone``, then replace or append each of ``add``, in place."""
    items[:] = [i for i in items if _name(ecosystem, str(i)) not in gone]
    for req in add:
        at = next((k for k, i in enumerate(items) if _name(ecosystem, str(i)) == req.name), None)
        if at is None:
            items.append(req.text)
        else:
            items[at] = req.text


def edit_packages(
    nb: dict[str, Any],
    path: Path,
    ecosystem: str,
    *,
    add: Iterable[Requirement] = (),
    remove: Iterable[str] = (),
    seed: Iterable[str] = (),
) -> None:
    """Change ``metadata.orbit.packages[ecosystem]`` and, for PyPI, the PEP 723 block with it.

    ``seed`` is what the notebook's environment declares today when ``metadata.orbit`` has no
    list for this ecosystem yet (from its PEP 723 block or the project's files): the new list
    starts from it, so adding one package never drops the others.
    """
    add, gone = list(add), set(remove)
    packages = orbit_metadata(nb).setdefault("packages", {})
    if not isinstance(packages, dict):
        raise InputError(
            "metadata.orbit.packages is not an object", "fix the notebook's metadata", path=path
        )
    items = packages.get(ecosystem)
    if items is None:
        items = list(seed)
    known = {_name(ecosystem, str(i)) for i in items}
    if missing := sorted(gone - known):
        from jupyter_orbit.manifests._lines import missing_error

        raise missing_error(missing, f"the {ecosystem} packages of {path.name}", path)
    _edit_list(items, ecosystem, add, gone)
    packages[ecosystem] = items
    if ecosystem != "pypi":
        return

    def block(doc: tomlkit.TOMLDocument) -> None:
        if "dependencies" not in doc:
            doc["dependencies"] = tomlkit.array()
        deps = doc["dependencies"]
        for k in range(len(deps) - 1, -1, -1):
            if _name("pypi", str(deps[k])) in gone:
                del deps[k]
        for req in add:
            at = next((k for k, d in enumerate(deps) if _name("pypi", str(d)) == req.name), None)
            if at is None:
                deps.append(req.text)
            else:
                deps[at] = req.text

    edit_pep723(nb, path, block)
