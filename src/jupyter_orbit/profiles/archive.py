"""A profile as one file: export it, carry it, import it elsewhere.

The file is TOML: a few header keys and a ``[files]`` table mapping each carried file's path
(relative to the profile folder) to its text — the settings (``profile.toml``: JupyterLab's
version, the extensions pinned to exact versions, the defaults), the server and JupyterLab
config, JupyterLab's user settings and workspaces. Everything else is rebuilt on import (the
server environment, kernelspecs) or deliberately left behind: tokens and secrets, the running
state, logs, browser data (cookies, sessions), IPython's startup files and history, and any
extension installed from a local file (it would not exist on the other machine).

Import treats the file as untrusted: it is size-limited before it is parsed, every key and path
is checked against what an export writes (no unknown keys, no absolute paths or ``..``, no two
paths that differ only in case), every setting is checked like ``orbit config set`` does and
must not point the server at code or folders, and nothing is written until all of that passed
— then the profile appears whole, by one rename.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import Requirement

from jupyter_orbit import __version__, atomic, untrusted
from jupyter_orbit import settings as st
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths, ProfilePaths, check_profile_name
from jupyter_orbit.profiles.store import ProfileStore, exported_files
from jupyter_orbit.progress import NullProgress, Progress

FORMAT = "jupyter-orbit-profile"
VERSION = 1
SUFFIX = ".orbit-profile.toml"
MAX_FILE_BYTES = 16 * 2**20  # the whole export
MAX_ENTRY_BYTES = 2 * 2**20  # one carried file
MAX_ENTRIES = 2000
_HEADER_KEYS = {"format", "version", "name", "exported", "orbit", "files"}
_PART = re.compile(r"^[A-Za-z0-9@_+-][A-Za-z0-9@_.+-]{0,127}$")
_SETTINGS = "profile.toml"
_SERVER_CONFIG = "jupyter/config/jupyter_server_config.json"
_LAB_SETTINGS = ("jupyter", "config", "lab", "user-settings")
_WORKSPACES = ("jupyter", "data", "lab", "workspaces")


@dataclass
class Exported:
    path: Path | None
    text: str
    left_out: list[str] = field(default_factory=list)


def export(paths: Paths, name: str, *, workspaces: bool = True) -> Exported:
    """The export file's text for profile ``name``, and what was left out and why."""
    import tomlkit

    store = ProfileStore(paths)
    prof = store.profile(name)
    settings = store.settings(name)
    left_out = []
    portable = []
    for ext in settings.server.extensions:
        if Requirement(ext).url:
            left_out.append(f"extension {ext} (installed from a file; add it again there)")
        else:
            portable.append(ext)
    if settings.hardware.to_dict():  # this machine's package indexes and device access
        left_out.append("[hardware] (this machine's accelerator indexes and device access)")
    if settings.allowed_indexes:  # where packages may come from is each user's own choice
        left_out += [
            f"allowed package index {i} (allow it there yourself)" for i in settings.allowed_indexes
        ]
    settings = replace(
        settings.with_extensions(portable), hardware=st.HardwareSettings(), allowed_indexes=()
    )
    files: dict[str, str] = {_SETTINGS: st.render(settings)}
    for rel in exported_files(prof):
        if rel.startswith("/".join(_WORKSPACES)) and not workspaces:
            continue
        text = (prof.root / rel).read_text(encoding="utf-8")
        if rel == _SERVER_CONFIG:
            text, dropped = _without_secrets(text)
            left_out += dropped
            if text is None:
                continue
        files[rel] = text
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment("An exported Orbit profile. Rebuild it with: orbit profile import FILE")
    )
    doc.add(tomlkit.nl())
    doc["format"] = FORMAT
    doc["version"] = VERSION
    doc["name"] = name
    doc["exported"] = datetime.now(UTC).isoformat(timespec="seconds")
    doc["orbit"] = __version__
    table = tomlkit.table()
    for rel, text in sorted(files.items()):
        table[rel] = tomlkit.string(text, multiline="\n" in text)
    doc["files"] = table
    return Exported(None, tomlkit.dumps(doc), left_out)


def _without_secrets(text: str) -> tuple[str | None, list[str]]:
    """The server config minus what an import would refuse: secrets, the keys Orbit refuses
    (hand edits may hold some) and settings off the import allow-list; and what was left out,
    with the reason."""
    import json

    from jupyter_orbit.profiles import allow, traits

    data = json.loads(text)
    dropped = []
    classes: dict[str, type] | None = None
    for cls in list(data):
        for name in list(data[cls]):
            key = f"{cls}.{name}"
            try:
                bad = traits.is_secret(key) or traits.refusal(key) is not None
            except traits.TraitProblem:
                bad = True
            why = "a secret or a safety setting"
            if not bad:
                classes = classes or traits.configurable_classes(None)
                bad = not allow.importable(key, classes)
                why = f"imports do not take it; set it there with `orbit config set {key}`"
            if bad:
                del data[cls][name]
                dropped.append(f"{key} ({why})")
        if not data[cls]:
            del data[cls]
    return (json.dumps(data, indent=2) + "\n" if data else None), dropped


def write_export(exported: Exported, out: Path, *, force: bool) -> None:
    if out.exists() and not force:
        raise InputError(f"{out} exists", "choose another file with -o, or pass --force")
    atomic.write_text(out, exported.text)


# -- import -----------------------------------------------------------------------------------


@dataclass
class Incoming:
    """A checked export file: the profile's name, settings and files, nothing written yet."""

    name: str
    settings: st.Settings
    files: dict[str, str]
    server_config: dict[str, dict[str, Any]]
    source: Path


def read_import(path: Path) -> Incoming:
    import tomllib

    def bad(message: str, hint: str = "export it again from a working profile") -> InputError:
        return InputError(message, hint, path=path)

    # A regular file, size-checked before reading (no FIFO, no /dev/zero behind a symlink).
    text = untrusted.read_text(path, limit=MAX_FILE_BYTES, what="the profile export")
    try:
        data = untrusted.parse(tomllib.loads, text, path=path, what="the profile export")
    except tomllib.TOMLDecodeError as e:
        line = re.search(r"line (\d+)", str(e))
        raise InputError(
            f"not a valid profile export: {e}",
            "export it again",
            path=path,
            line=int(line.group(1)) if line else None,
        ) from None
    unknown = set(data) - _HEADER_KEYS
    if unknown:
        raise bad(f"unknown keys {', '.join(sorted(unknown))}", "only Orbit's own exports import")
    if data.get("format") != FORMAT:
        raise bad(f"not an Orbit profile export (format {data.get('format')!r})")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise bad(f"bad version {version!r}")
    if version > VERSION:
        raise bad(
            f"made by a newer Orbit (format version {version})",
            "upgrade Orbit to import it",
        )
    name = data.get("name")
    if not isinstance(name, str):
        raise bad("no profile name")
    files = data.get("files")
    if not isinstance(files, dict) or _SETTINGS not in files:
        raise bad(f"no [files] table with {_SETTINGS}")
    if len(files) > MAX_ENTRIES:
        raise bad(f"{len(files)} files is more than a profile export may hold ({MAX_ENTRIES})")
    seen: dict[str, str] = {}
    for rel, text in files.items():
        if not isinstance(text, str):
            raise bad(f"files.{rel!r} is not text")
        if len(text.encode("utf-8")) > MAX_ENTRY_BYTES:
            raise bad(f"{rel} is larger than a carried file may be ({MAX_ENTRY_BYTES} bytes)")
        _check_path(rel, path)
        if (folded := rel.casefold()) in seen:
            raise bad(f"{rel} and {seen[folded]} differ only in case")
        seen[folded] = rel
    settings = st.parse(files[_SETTINGS], Path(f"{path}:{_SETTINGS}"))
    for ext in settings.server.extensions:
        if Requirement(ext).url:
            raise bad(
                f"extension {ext} comes from a URL, not from PyPI",
                "imports take PyPI extensions only; add it afterwards with `orbit ext add`",
            )
    if settings.hardware.to_dict():
        raise bad(
            "the profile sets [hardware] (package indexes, device access)",
            "imports carry no [hardware] table: set it in the imported profile's profile.toml",
        )
    if settings.allowed_indexes:
        raise bad(
            f"the profile allows package indexes ({', '.join(settings.allowed_indexes)}); an "
            "imported profile may not choose where packages come from",
            "remove [indexes] allowed from its profile.toml; allow an index yourself after "
            "importing: `orbit config set indexes.allowed '[\"URL\"]'`",
        )
    server_config = _check_contents(files, path)
    return Incoming(name, settings, dict(files), server_config, path)


def _check_path(rel: str, source: Path) -> None:
    """Only the relative paths an export writes: no traversal, nothing outside the profile."""
    pure = PurePosixPath(rel)
    parts = pure.parts
    ok = (
        rel == str(pure)
        and not pure.is_absolute()
        and "\\" not in rel
        and all(_PART.match(p) and p not in (".", "..") for p in parts)
    )
    if ok:
        if rel in (_SETTINGS, _SERVER_CONFIG):
            return
        in_lab = parts[: len(_LAB_SETTINGS)] == _LAB_SETTINGS
        if in_lab and rel.endswith(".jupyterlab-settings") and len(parts) <= len(_LAB_SETTINGS) + 3:
            return
        in_ws = parts[: len(_WORKSPACES)] == _WORKSPACES and len(parts) == len(_WORKSPACES) + 1
        if in_ws and rel.endswith(".jupyterlab-workspace"):
            return
    raise InputError(
        f"refusing the path {rel!r}: an export carries only the profile's settings, server "
        "config, JupyterLab settings and workspaces",
        "export it again from a working profile",
        path=source,
    )


def _check_contents(files: dict[str, str], source: Path) -> dict[str, dict[str, Any]]:
    import json

    import json5

    server_config: dict[str, dict[str, Any]] = {}
    for rel, text in files.items():
        try:
            if rel == _SERVER_CONFIG:
                server_config = untrusted.parse(untrusted.loads_marked, text, path=source, what=rel)
                if found := untrusted.unclean(server_config, rel):
                    raise InputError(f"{found[0]} {found[1]}", "export it again", path=source)
                ok = isinstance(server_config, dict) and all(
                    isinstance(v, dict) for v in server_config.values()
                )
            elif rel.endswith(".jupyterlab-settings"):
                ok = isinstance(untrusted.parse(json5.loads, text, path=source, what=rel), dict)
            elif rel.endswith(".jupyterlab-workspace"):
                ws = untrusted.parse(json.loads, text, path=source, what=rel)
                ok = isinstance(ws, dict) and isinstance(ws.get("data"), dict)
            else:
                ok = True
        except ValueError:
            ok = False
        if not ok:
            raise InputError(f"{rel} is not what it should hold", "export it again", path=source)
    from jupyter_orbit.profiles import traits

    for cls, values in server_config.items():
        for name, value in values.items():
            key = f"{cls}.{name}"
            if name[:1].isupper() and isinstance(value, dict):
                # traitlets reads {"ServerApp": {"KernelManager": {...}}} as a nested section
                raise InputError(
                    f"{key} is a nested config section; imports take Class.setting only",
                    "remove it from the file",
                    path=source,
                )
            try:
                why = traits.refusal(key)
                secret = traits.is_secret(key)
            except traits.TraitProblem as p:
                raise InputError(p.message, p.hint, path=source) from None
            if why is not None or secret:
                raise InputError(
                    f"{key} cannot be imported: {why or 'it holds a secret'}",
                    "remove it from the file",
                    path=source,
                )
    return server_config


def import_profile(
    paths: Paths,
    incoming: Incoming,
    *,
    name: str | None = None,
    build: bool = True,
    progress: Progress | None = None,
) -> ProfilePaths:
    """Write the checked profile under ``name`` (default: its own) and build its server."""
    from jupyter_orbit.profiles import config, server_env
    from jupyter_orbit.profiles.config import flatten

    progress = progress or NullProgress()
    name = check_profile_name(name or incoming.name)
    store = ProfileStore(paths)
    store.refuse_existing(name)
    values = flatten(incoming.server_config)
    if build:
        server_env.ensure(paths, incoming.settings, progress)
        # Checked, strictly, in the server environment these settings will configure.
        scratch = ProfilePaths(name, paths.profiles_dir / ".import-check")
        config.check_many(
            paths, scratch, incoming.settings, values, raw=False, strict=True, progress=progress
        )
    elif values:
        from jupyter_orbit.profiles import traits

        classes = traits.configurable_classes(None)  # Orbit's own: no environment to ask yet
        for key, value in values.items():
            try:
                traits.check(classes, key, value=value, strict=True)
            except traits.TraitProblem as p:
                raise InputError(
                    p.message,
                    p.hint + " (or import without --no-build, to check it against the "
                    "profile's own extensions)",
                    path=incoming.source,
                ) from None

    def fill(stage: ProfilePaths) -> None:
        for rel, text in incoming.files.items():
            target = stage.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(target, text)
        store.install_kernelspecs(stage, incoming.settings)

    return store.new(name, fill)
