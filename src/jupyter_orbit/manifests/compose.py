"""compose.yaml / docker-compose.yml: the services a project runs beside its kernels.

Written by ``orbit add NAME --in compose`` and ``orbit remove``, read when a kernel starts
(``ecosystems.compose``), never as a source of a kernel's packages. Edits are made line by line
where the file has its services: ruamel.yaml finds where each service and named volume starts
and ends, the new service is written in the file's own indentation after the last one, and
every other line keeps its bytes, comments and order. So adding a service and removing it again
gives back the very same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.ecosystems.compose import Compose
from jupyter_orbit.ecosystems.compose_yaml import COMPOSE_FILES, load
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._lines import Lines, missing_error
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level, Requirement
from jupyter_orbit.paths import Paths

_PLAIN = re.compile(r"^([A-Za-z/._@][A-Za-z0-9_./@:=+-]*|\d+(\.\d+)?(us|ms|s|m|h))$")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
FLOW_KEYS = ("test", "command", "entrypoint")  # short lists of words, written [a, b]
# The order a service's options are written in (as people write them); others follow, sorted.
ORDER = ("image", "command", "entrypoint", "environment", "ports", "volumes", "depends_on")


class ComposeFile(Manifest):
    name: ClassVar[str] = "compose.yaml"
    filenames: ClassVar[tuple[str, ...]] = COMPOSE_FILES
    # Services are not a kernel's packages: read when a kernel starts, not with the project's
    # environment files.
    project_source: ClassVar[bool] = False
    ecosystems: ClassVar[tuple[str, ...]] = ("compose",)
    new_text: ClassVar[str] = "services:\n"

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        doc = load(path)
        names = list(doc.get("services") or {})
        out = Contribution(self.name, path, level)
        if names:
            out.notes.append(f"{path.name}: services run beside the kernels: {', '.join(names)}")
        return out

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        eco = Compose(Paths.from_env())
        services = []
        for req in add:
            definition, volumes = eco.definition(req)
            services.append((req.name, definition, volumes))
        return edit_text(text, path=path, add=services, remove=remove)


# -- writing YAML for the few shapes a service has ---------------------------------------------


def scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and not text.endswith(":") and text.lower() not in _SPECIAL:
        return text
    return json.dumps(text, ensure_ascii=False)


def emit(key: str, value: Any, indent: int, step: int, seq: int) -> list[str]:
    """``key: value`` as block YAML at ``indent``: mappings nested by ``step``, sequence items
    indented by ``seq`` under their key."""
    pad = " " * indent
    head = f"{pad}{scalar(key)}:"
    if isinstance(value, Mapping):
        if not value:
            return [f"{head} {{}}"]
        out = [head]
        for k, v in value.items():
            out += emit(str(k), v, indent + step, step, seq)
        return out
    if isinstance(value, list):
        if not value:
            return [f"{head} []"]
        if key in FLOW_KEYS and all(not isinstance(v, Mapping | list) for v in value):
            words = (json.dumps(v) if isinstance(v, str) else scalar(v) for v in value)
            return [f"{head} [{', '.join(words)}]"]
        out = [head]
        for v in value:
            if isinstance(v, Mapping):
                first, *rest = [
                    line for k, x in v.items() for line in emit(str(k), x, 0, step, seq)
                ]
                dash = " " * (indent + seq) + "- "
                out.append(dash + first)
                out += [" " * len(dash) + line for line in rest]
            else:
                out.append(f"{' ' * (indent + seq)}- {scalar(v)}")
        return out
    return [f"{head} {scalar(value)}".rstrip()]


def ordered(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A service's options in the order people write them (image first)."""
    rank = {k: i for i, k in enumerate(ORDER)}
    return dict(sorted(definition.items(), key=lambda kv: (rank.get(kv[0], len(ORDER)), kv[0])))


def render(services: Mapping[str, Mapping[str, Any]], volumes: Sequence[str] = ()) -> str:
    """A whole compose file holding ``services`` and the named ``volumes`` (``orbit export``)."""
    lines = ["services:"]
    for name, definition in services.items():
        lines += emit(name, ordered(definition), 2, 2, 2)
    if volumes:
        lines.append("volumes:")
        lines += [f"  {scalar(v)}:" for v in volumes]
    return "\n".join(lines) + "\n"


def named_volumes(definition: Mapping[str, Any]) -> list[str]:
    """The named volumes a service mounts (short or long syntax), in order."""
    out = []
    for item in definition.get("volumes") or ():
        if isinstance(item, str):
            source, sep, _ = item.partition(":")
            if sep and source and not source.startswith(("/", ".", "~", "$")):
                out.append(source)
        elif (
            isinstance(item, Mapping)
            and item.get("type", "volume") == "volume"
            and isinstance(item.get("source"), str)
            and item["source"]
        ):
            out.append(item["source"])
    return list(dict.fromkeys(out))


# -- editing in place ----------------------------------------------------------------------


class _Layout:
    """Where a top-level mapping's entries are in the file, and how the file indents."""

    def __init__(self, doc: Any, lines: Lines) -> None:
        self.doc = doc
        self.lines = lines
        self.step, self.seq = _indentation(doc, lines)

    def top_line(self, key: str) -> int | None:
        try:
            return self.doc.lc.key(key)[0]
        except (AttributeError, KeyError, TypeError):
            return None

    def block_end(self, start: int) -> int:
        """The index after the last line of the entry starting at ``start``: up to the next
        line indented no deeper, without the blank and comment lines before it."""
        indent = _indent(self.lines.lines[start])
        end = start + 1
        n = len(self.lines.lines)
        while end < n:
            line = self.lines.body(self.lines.lines[end])
            if line.strip() and not line.lstrip().startswith("#") and _indent(line) <= indent:
                break
            end += 1
        while end > start + 1 and _filler(self.lines.body(self.lines.lines[end - 1]), indent):
            end -= 1
        return end

    def entries(self, key: str) -> tuple[int | None, Any, dict[str, int]]:
        """(the top-level key's line, its value, the line of each of its entries)."""
        line = self.top_line(key)
        value = self.doc.get(key)
        at = {}
        if isinstance(value, Mapping):
            for name in value:
                at[str(name)] = value.lc.key(name)[0]
        return line, value, at


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _filler(line: str, indent: int) -> bool:
    return not line.strip() or (line.lstrip().startswith("#") and _indent(line) <= indent)


def _indentation(doc: Any, lines: Lines) -> tuple[int, int]:
    """How far the file nests mappings, and how far it indents sequence items under a key."""
    step, seq = 2, 2
    services = doc.get("services") if isinstance(doc, Mapping) else None
    if isinstance(services, Mapping) and services:
        first = next(iter(services))
        step = max(1, services.lc.key(first)[1]) or 2
        body = services[first]
        if isinstance(body, Mapping):
            for k, v in body.items():
                if isinstance(v, list) and v and hasattr(v, "lc"):
                    dash = _indent(lines.lines[v.lc.item(0)[0]])
                    seq = max(0, dash - body.lc.key(k)[1])
                    break
    return step, seq


def _block(name: str, definition: Mapping[str, Any], indent: int, layout: _Layout) -> list[str]:
    return emit(name, dict(definition), indent, layout.step, layout.seq)


def edit_text(
    text: str,
    *,
    path: Path,
    add: Sequence[tuple[str, Mapping[str, Any], Sequence[str]]] = (),
    remove: Sequence[str] = (),
) -> str:
    """Add services (name, definition, the named volumes it keeps data in) and remove services
    by name; a named volume no remaining service mounts is taken out of ``volumes`` too."""
    doc = load(path, text)
    lines = Lines.of(text)
    layout = _Layout(doc, lines)
    _, services, at = layout.entries("services")
    if services is not None and not isinstance(services, Mapping):
        raise InputError(f"services in {path.name} is not a mapping", "fix the file", path=path)
    if isinstance(services, Mapping) and services and services.fa.flow_style():
        raise InputError(
            f"the services of {path.name} are written in flow style ({{…}})",
            "write them as a block (one service per line, indented), then add again",
            path=path,
        )
    missing = [n for n in remove if n not in at]
    if missing:
        raise missing_error(missing, f"the services of {path.name}", path)
    before = {str(k): v for k, v in (services or {}).items()}
    gone = set(remove) | {name for name, _, _ in add if name in at}
    after = {k: v for k, v in before.items() if k not in gone}
    after.update({name: definition for name, definition, _ in add})
    used = {v for d in after.values() if isinstance(d, Mapping) for v in named_volumes(d)}

    # Removing goes bottom-up, so the line numbers found above stay right.
    cut: list[tuple[int, int]] = [(at[n], layout.block_end(at[n])) for n in gone]
    volumes_line, volumes, vol_at = layout.entries("volumes")
    dropped = [v for v in vol_at if v not in used and _mounted_by(v, before, gone)]
    cut += [(vol_at[v], layout.block_end(vol_at[v])) for v in dropped]
    if volumes_line is not None and vol_at and set(dropped) == set(vol_at):
        cut.append((volumes_line, volumes_line + 1))  # the volumes: key, now empty
    replaced_at = {n: at[n] for n in gone if any(n == a for a, _, _ in add)}
    inserts: list[tuple[int, list[str]]] = []
    indent = next((_indent(lines.lines[i]) for i in at.values()), layout.step)
    services_line = layout.top_line("services")
    for name, definition, _ in add:
        block = _block(name, definition, indent, layout)
        if name in replaced_at:
            inserts.append((replaced_at[name], block))
        elif services_line is None:
            inserts.append((len(lines.lines) + 1, ["services:", *block]))
        else:
            inserts.append((_end_of(layout, services_line, at, gone), block))
    declared = set(vol_at) - set(dropped)
    new_volumes = [v for _, _, vs in add for v in vs if v not in declared]
    new_volumes = list(dict.fromkeys(new_volumes))
    if new_volumes:
        vol_indent = next((_indent(lines.lines[i]) for i in vol_at.values()), layout.step)
        entries = [f"{' ' * vol_indent}{scalar(v)}:" for v in new_volumes]
        if volumes_line is None or (volumes_line, volumes_line + 1) in cut:
            inserts.append((len(lines.lines) + 2, ["volumes:", *entries]))
        else:
            kept = {k: v for k, v in vol_at.items() if k not in dropped}
            inserts.append((_end_of(layout, volumes_line, kept, set()), entries))
    if isinstance(volumes, Mapping) and volumes and volumes.fa.flow_style() and new_volumes:
        raise InputError(
            f"the volumes of {path.name} are written in flow style ({{…}})",
            "write them as a block, then add again",
            path=path,
        )
    return _apply(lines, cut, inserts, services_line, volumes_line)


def _mounted_by(volume: str, services: Mapping[str, Any], names: set[str]) -> bool:
    return any(
        isinstance(services.get(n), Mapping) and volume in named_volumes(services[n]) for n in names
    )


def _end_of(layout: _Layout, key_line: int, at: Mapping[str, int], gone: set[str]) -> int:
    """Where a new entry of the top-level mapping at ``key_line`` goes: after its last
    remaining entry (or right after the key)."""
    kept = [line for name, line in at.items() if name not in gone]
    if not kept:
        return key_line + 1
    return layout.block_end(max(kept))


def _apply(
    lines: Lines,
    cut: list[tuple[int, int]],
    inserts: list[tuple[int, list[str]]],
    services_line: int | None,
    volumes_line: int | None,
) -> str:
    """Cut then insert, from the bottom up (a block replacing a cut one goes where it was;
    blocks inserted at one place keep their order)."""
    for line in (services_line, volumes_line):
        # "services: {}" / "volumes: {}" (or a bare key) become a block key when added to.
        if line is not None and any(at == line + 1 for at, _ in inserts):
            body = lines.body(lines.lines[line])
            key, _, rest = body.partition(":")
            if rest.strip() in ("{}", "", "null", "~") or rest.strip().startswith("#"):
                comment = rest[rest.index("#") :] if "#" in rest else ""
                lines.replace(line, f"{key}:" + (f" {comment}" if comment else ""))
    merged: dict[int, list[str]] = {}
    for at, block in inserts:
        merged.setdefault(min(at, len(lines.lines)), []).extend(block)
    events: list[tuple[int, int, Any]] = [(at, 0, block) for at, block in merged.items()]
    events += [(start, 1, end) for start, end in cut]
    for at, kind, item in sorted(events, key=lambda e: (e[0], e[1]), reverse=True):
        if kind == 1:
            del lines.lines[at:item]
        else:
            for offset, content in enumerate(item):
                lines.insert(at + offset, content)
    return lines.text()
