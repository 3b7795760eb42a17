"""requirements.txt, in pip's requirement-file format.

Pip's parser is not a public API, so this module follows its documented rules: a backslash at
the end of a line continues it, ``#`` starts a comment at the start of a line or after
whitespace, option lines start with ``-``, and a requirement line may carry per-requirement
options (``--hash``) after the requirement. Options are parsed with argparse, requirements with
``packaging``.

What each option becomes:

- ``-r FILE`` is read in place, relative to the including file; ``-c FILE`` is read into
  ``Contribution.constraints``. Both must stay inside the project root; cycles are errors.
- ``-e PATH`` and bare local paths become a pypi ``Requirement`` named after the folder (or the
  wheel/sdist file) whose text is the absolute path, prefixed with ``-e `` when editable.
- ``-i``, ``--extra-index-url``, ``-f``, ``--trusted-host`` and ``--no-index`` change where
  packages come from; they go to ``Contribution.index_options`` in a normalised spelling
  (``--index-url https://…``) for the trust logic to allow or refuse.
- ``--pre`` also goes to ``index_options``, spelled ``--prerelease allow`` (uv's name for it),
  although it does not change *where* packages come from.
- ``--hash`` is dropped with a note (hashes only matter once a lock is installed);
  ``--prefer-binary``, ``--only-binary``, ``--no-binary`` and ``--require-hashes`` are dropped
  with a note. Any other option is an error.

Environment variables (``${VAR}``) are not expanded: a project file does not get to read the
user's environment.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from jupyter_orbit.ecosystems.pypi import pypi_requirement
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests._common import add_note, inside_root, read_text
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.model import Level, Origin, Requirement

_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_AND_MARKER = re.compile(r"^(?P<url>\S+)(?:\s*;\s*(?P<marker>.+))?$")
_PATH_EXTRAS = re.compile(r"^(?P<path>.+?)(?P<extras>\[[^\]]*\])?$")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
_KNOWN = (
    "-r/--requirement, -c/--constraint, -e/--editable, -i/--index-url, --extra-index-url, "
    "-f/--find-links, --trusted-host, --no-index, --pre, --hash"
)
HASH_NOTE = "--hash options are ignored until the environment is installed from a lock"


class _OptionError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _OptionError(message)


def _line_parser() -> _Parser:
    p = _Parser(prog="requirements", add_help=False, allow_abbrev=False)
    for flags in (
        ("-r", "--requirement"),
        ("-c", "--constraint"),
        ("-e", "--editable"),
        ("-i", "--index-url"),
        ("--extra-index-url",),
        ("-f", "--find-links"),
        ("--trusted-host",),
        ("--only-binary",),
        ("--no-binary",),
    ):
        p.add_argument(*flags, action="append", default=[])
    for flag in ("--no-index", "--pre", "--prefer-binary", "--require-hashes"):
        p.add_argument(flag, action="store_true")
    return p


def _per_requirement_parser() -> _Parser:
    p = _Parser(prog="requirement", add_help=False, allow_abbrev=False)
    p.add_argument("--hash", action="append", default=[])
    return p


_LINE_OPTIONS = _line_parser()
_REQUIREMENT_OPTIONS = _per_requirement_parser()


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first physical line number, content)`` with continuations joined, comments gone."""
    start = 0
    parts: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        # A comment line ends a continuation (pip does the same), so "\" before it is harmless.
        if raw.endswith("\\") and not _COMMENT.match(raw):
            if not parts:
                start = number
            parts.append(raw[:-1])
            continue
        if parts:
            parts.append(raw if not _COMMENT.match(raw) else "")
            joined, first = "".join(parts), start
            parts = []
        else:
            joined, first = raw, number
        content = _COMMENT.sub("", joined).strip()
        if content:
            yield first, content
    if parts:
        content = _COMMENT.sub("", "".join(parts)).strip()
        if content:
            yield start, content


def _split_options(text: str) -> tuple[str, str]:
    """Split a requirement line at its first ``-``-token, as pip does."""
    tokens = text.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]).strip(), " ".join(tokens[i:])
    return text, ""


def _tokens(text: str, origin: Origin) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as e:
        raise InputError(
            f"cannot split options {text!r}: {e}",
            "close the quote or remove it",
            path=origin.path,
            line=origin.line,
        ) from None


def _parse(parser: _Parser, text: str, origin: Origin) -> argparse.Namespace:
    try:
        ns, unknown = parser.parse_known_args(_tokens(text, origin))
        if unknown:
            raise _OptionError(f"unknown option {unknown[0].split('=', 1)[0]}")
    except _OptionError as e:
        raise InputError(
            f"{e} in a requirements file",
            f"remove it or rewrite it; Orbit understands {_KNOWN}",
            path=origin.path,
            line=origin.line,
        ) from None
    return ns


def normalize_index_option(text: str, *, path: Path, line: int | None = None) -> str:
    """Check one source-changing option (``--index-url X``, ``-i X``, ``--no-index`` …) and
    return it in the normalised spelling used in ``index_options``.
    """
    if text.split() in (["--prerelease", "allow"], ["--prerelease=allow"]):
        return "--prerelease allow"  # uv's spelling of --pre, as stored in index_options
    try:
        ns = _parse(_LINE_OPTIONS, text, Origin("index option", path, line))
    except InputError:
        ns = None
    options = _index_options(ns) if ns else []
    others = ns and (ns.requirement or ns.constraint or ns.editable or ns.only_binary)
    others = others or (ns and (ns.no_binary or ns.prefer_binary or ns.require_hashes))
    if len(options) != 1 or others:
        raise InputError(
            f"not a single index option: {text!r}",
            "use one of --index-url URL, --extra-index-url URL, --find-links URL, "
            "--trusted-host HOST, --no-index or --prerelease allow",
            path=path,
            line=line,
        )
    return options[0]


def _index_options(ns: argparse.Namespace) -> list[str]:
    out = [f"--index-url {v}" for v in ns.index_url]
    out += [f"--extra-index-url {v}" for v in ns.extra_index_url]
    out += [f"--find-links {v}" for v in ns.find_links]
    out += [f"--trusted-host {v}" for v in ns.trusted_host]
    if ns.no_index:
        out.append("--no-index")
    if ns.pre:
        out.append("--prerelease allow")
    return out


def local_path_requirement(
    text: str, *, base: Path, root: Path, editable: bool, origin: Origin
) -> Requirement:
    """A local folder, wheel or sdist as a pypi ``Requirement`` with an absolute path as text.

    ``text`` may end in extras (``./pkg[test]``); they are kept, normalised, after the path.
    """
    where = {"path": origin.path, "line": origin.line}
    spec, _, marker = text.partition(";")
    if marker.strip():
        raise InputError(
            f"environment markers on a local path are not supported: {text}",
            "drop the marker, or build a wheel and reference it by name",
            **where,
        )
    m = _PATH_EXTRAS.match(spec.strip())
    raw = Path(m.group("path") if m else spec.strip())
    extras = ""
    if m and m.group("extras"):
        names = sorted(
            canonicalize_name(e) for e in m.group("extras")[1:-1].split(",") if e.strip()
        )
        extras = f"[{','.join(names)}]" if names else ""
    target = inside_root(
        raw if raw.is_absolute() else base / raw,
        root,
        source=origin.path or base,
        line=origin.line,
        what="local path",
    )
    if not target.exists():
        raise InputError(
            f"local path {raw} does not exist", "fix the path or remove the line", **where
        )
    if target.is_dir():
        name = canonicalize_name(target.name)
    elif editable:
        raise InputError(
            f"-e needs a folder, not the file {raw}",
            "drop -e or point at the source folder",
            **where,
        )
    else:
        name = _archive_name(target.name, origin)
    return Requirement("pypi", name, f"{'-e ' if editable else ''}{target}{extras}", origin)


def _archive_name(filename: str, origin: Origin) -> str:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        raise InputError(
            f"cannot tell the package name of {filename}",
            "use a wheel or sdist named as pip builds them, or a source folder",
            path=origin.path,
            line=origin.line,
        ) from None


def url_requirement(text: str, origin: Origin) -> Requirement:
    """A bare URL (``git+https://…#egg=name``, ``https://…/pkg-1.0-py3-none-any.whl``) as
    ``name @ url``; the ``egg=`` fragment gives the name and is dropped from the URL.
    """
    m = _URL_AND_MARKER.match(text)
    url, marker = (m.group("url"), m.group("marker")) if m else (text, None)
    parts = urlsplit(url)
    fragments = [f for f in parts.fragment.split("&") if f]
    eggs = [f[4:] for f in fragments if f.startswith("egg=")]
    rest = "&".join(f for f in fragments if not f.startswith("egg="))
    clean = urlunsplit(parts._replace(fragment=rest))
    if eggs:
        name = eggs[-1]
    else:
        filename = unquote(parts.path.rsplit("/", 1)[-1])
        if not filename.endswith(_ARCHIVES):
            raise InputError(
                f"cannot tell the package name of {url}",
                f"write it as 'name @ {clean}' or add '#egg=name' to the URL",
                path=origin.path,
                line=origin.line,
            )
        name = _archive_name(filename, origin)
    line = f"{name} @ {clean}" + (f" ; {marker}" if marker else "")
    return pypi_requirement(line, origin)


def _looks_like_path(spec: str) -> bool:
    """True for ``.``, ``./pkg``, ``sub/pkg``, ``x.whl``; False for PEP 508 and ``name @ url``."""
    spec = spec.split(";")[0].strip()
    if "@" in spec and not spec.startswith((".", "/", "\\")):
        return False
    return (
        spec.startswith((".", "/", "\\")) or "/" in spec or "\\" in spec or spec.endswith(_ARCHIVES)
    )


class RequirementLines:
    """Applies requirement-file lines to a ``Contribution``; one instance per top-level read.

    Used by ``RequirementsTxt`` for files and by ``EnvironmentYml`` for its ``pip:`` list, so
    both follow the same rules.
    """

    def __init__(self, out: Contribution, *, root: Path, kind: str, level: Level) -> None:
        self.out = out
        self.root = root
        self.kind = kind
        self.level = level
        self._stack: list[Path] = []  # files being read, to detect include cycles

    def read_file(self, path: Path, *, constraint: bool = False) -> None:
        """Read one requirements file (and, recursively, what it includes)."""
        self.read_lines(logical_lines(read_text(path)), path=path, constraint=constraint)

    def read_lines(
        self, lines: Iterable[tuple[int | None, str]], *, path: Path, constraint: bool = False
    ) -> None:
        """Apply lines already split out of ``path`` (as ``(line number, text)``).

        Comments are stripped here too; relative paths are taken from ``path``'s folder.
        """
        self._stack.append(path.resolve())
        try:
            for number, text in lines:
                content = _COMMENT.sub("", text).strip()
                if content:
                    self.add_line(content, path=path, line=number, constraint=constraint)
        finally:
            self._stack.pop()

    def add_line(
        self, text: str, *, path: Path, line: int | None, constraint: bool = False
    ) -> None:
        """Apply one logical line (comments and continuations already handled)."""
        origin = Origin(self.kind, path, line, self.level)
        if "${" in text:
            add_note(
                self.out, "environment variables (${VAR}) in requirement lines are not expanded"
            )
        if text.startswith("-"):
            self._option_line(text, path, origin, constraint)
            return
        spec, options = _split_options(text)
        if options and _parse(_REQUIREMENT_OPTIONS, options, origin).hash:
            add_note(self.out, HASH_NOTE)
        self._add(spec, path, origin, editable=False, constraint=constraint)

    def _option_line(self, text: str, path: Path, origin: Origin, constraint: bool) -> None:
        ns = _parse(_LINE_OPTIONS, text, origin)
        for option in _index_options(ns):
            if option.startswith("--find-links ") and not _URL.match(option[13:]):
                local = inside_root(
                    path.parent / option[13:], self.root, source=path, line=origin.line
                )
                option = f"--find-links {local}"
            if option not in self.out.index_options:
                self.out.index_options.append(option)
        dropped = [
            flag
            for flag, used in (
                ("--prefer-binary", ns.prefer_binary),
                ("--only-binary", ns.only_binary),
                ("--no-binary", ns.no_binary),
                ("--require-hashes", ns.require_hashes),
            )
            if used
        ]
        if dropped:
            add_note(self.out, f"ignored pip options: {', '.join(dropped)} (in {path.name})")
        for value in ns.editable:
            self._add(value, path, origin, editable=True, constraint=constraint)
        for value in ns.requirement:
            self._include(path.parent / value, path, origin, constraint=constraint)
        for value in ns.constraint:
            self._include(path.parent / value, path, origin, constraint=True)

    def _include(self, target: Path, path: Path, origin: Origin, *, constraint: bool) -> None:
        what = "constraints file" if constraint else "included file"
        resolved = inside_root(target, self.root, source=path, line=origin.line, what=what)
        if resolved in self._stack:
            chain = " -> ".join(p.name for p in [*self._stack, resolved])
            raise InputError(
                f"requirement files include each other in a cycle: {chain}",
                "remove one of the -r/-c lines that closes the cycle",
                path=path,
                line=origin.line,
            )
        if not resolved.is_file():
            raise InputError(
                f"{what} not found: {target}",
                "fix the path (it is relative to the file that includes it) or remove the line",
                path=path,
                line=origin.line,
            )
        self.read_file(resolved, constraint=constraint)

    def _add(
        self, spec: str, path: Path, origin: Origin, *, editable: bool, constraint: bool
    ) -> None:
        url = bool(_URL.match(spec)) and not spec.startswith("file:")
        local = spec.startswith("file:") or (not url and (editable or _looks_like_path(spec)))
        if (local or editable) and constraint:
            raise InputError(
                f"a constraints file cannot hold a local path or editable: {spec}",
                "constraints name packages only; move this line to a requirements file",
                path=path,
                line=origin.line,
            )
        if url:
            if editable:
                add_note(
                    self.out,
                    "editable URL requirements (-e git+…) are installed as regular packages",
                )
            req = url_requirement(spec, origin)
        elif local:
            if spec.startswith("file:"):
                spec = unquote(urlsplit(spec).path)
            req = local_path_requirement(
                spec, base=path.parent, root=self.root, editable=editable, origin=origin
            )
        else:
            req = pypi_requirement(spec, origin)
        (self.out.constraints if constraint else self.out.requirements).append(req)


class RequirementsTxt(Manifest):
    """Reads ``requirements.txt`` (pip's format), following ``-r`` and ``-c`` includes."""

    name: ClassVar[str] = "requirements.txt"
    filenames: ClassVar[tuple[str, ...]] = ("requirements.txt",)
    precedence: ClassVar[int] = 30
    read_together: ClassVar[bool] = True
    ecosystems: ClassVar[tuple[str, ...]] = ("pypi",)

    @classmethod
    def matches(cls, path: Path) -> bool:
        """requirements.txt, and any other .txt of requirements (dev-requirements.txt …)."""
        return path.suffix == ".txt" and path.name not in ("apt.txt", "runtime.txt")

    def read(self, path: Path, *, root: Path, level: Level = Level.PROJECT) -> Contribution:
        out = Contribution(self.name, path, level, declares={"pypi"})
        RequirementLines(out, root=root, kind=self.name, level=level).read_file(path)
        return out

    def edit_packages(
        self, text: str, path: Path, ecosystem: str, add: list[Requirement], remove: list[str]
    ) -> str:
        return edit_text(text, path=path, add=add, remove=remove)


# -- writing (round trip) -------------------------------------------------------------------


def _requirement_spans(lines: list[str]) -> list[tuple[int, int, str]]:
    """``(first, end, name)`` of each requirement line, continuations included (0-based)."""
    out: list[tuple[int, int, str]] = []
    start = None
    parts: list[str] = []
    for i, raw in enumerate(lines):
        body = raw.rstrip("\r\n")
        if body.endswith("\\") and not _COMMENT.match(body):
            start = i if start is None else start
            parts.append(body[:-1])
            continue
        first = i if start is None else start
        joined = "".join([*parts, body])
        start, parts = None, []
        content = _COMMENT.sub("", joined.lstrip("\ufeff")).strip()
        if not content or content.startswith("-"):
            continue
        spec, _ = _split_options(content)
        try:
            from packaging.requirements import Requirement as PEP508

            name = canonicalize_name(PEP508(spec).name)
        except Exception:  # URLs and paths are not edited by name
            continue
        out.append((first, i + 1, name))
    return out


def edit_text(
    text: str, *, path: Path, add: Iterable[Requirement] = (), remove: Iterable[str] = ()
) -> str:
    """Add (or replace by name) and remove requirement lines; other lines stay as they are.

    A replaced line keeps its indentation and trailing comment; new lines go after the last
    line that is not blank, with the file's line ending.
    """
    from jupyter_orbit.manifests._lines import Lines, missing_error

    doc = Lines.of(text)
    gone = set(remove)
    spans = _requirement_spans(doc.lines)
    missing = sorted(gone - {name for _, _, name in spans})
    if missing:
        raise missing_error(missing, path.name, path)
    for first, end, name in reversed(spans):
        if name in gone:
            del doc.lines[first:end]
    spans = _requirement_spans(doc.lines)
    for req in add:
        same = [s for s in spans if s[2] == req.name]
        if not same:
            doc.insert(doc.last_content(), req.text)
            spans = _requirement_spans(doc.lines)
            continue
        first, end, _ = same[0]
        head = doc.body(doc.lines[first])
        indent = head[: len(head) - len(head.lstrip())].lstrip("\ufeff")
        bom = "\ufeff" if head.startswith("\ufeff") else ""
        comment = _COMMENT.search(doc.body(doc.lines[end - 1]))
        tail = comment.group(0) if comment and end - first == 1 else ""
        ending = doc.ending(end - 1)
        doc.lines[first:end] = [bom + indent + req.text + tail + ending]
        spans = _requirement_spans(doc.lines)
    return doc.text()
