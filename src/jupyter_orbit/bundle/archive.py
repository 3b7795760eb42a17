"""The bundle file: one reproducible ``.tar.gz`` whose first member, ``manifest.json``, lists
every other member with its kind, size, sha256 and what needs it.

Layout (two levels, one folder per kind)::

    manifest.json
    wheels/six-1.17.0-py2.py3-none-any.whl
    npm/left-pad-1.3.0.tgz
    apt/jq_1.6-2.1_amd64.deb
    images/orbit-kernel-1a2b.tar
    data/<sha256>
    tools/verdaccio-6.8.0.tar      (a prepared folder: the npm registry server itself)

Same inputs give the same bytes: members are sorted, every header has mtime 0, uid/gid 0, no
owner names and mode 0644, the gzip header has no name and no timestamp, and the manifest is
JSON with sorted keys and no creation time (a caller may record a date it was given, such as the
as-of date). The file is written to a temporary name beside the target and renamed into place.

Reading treats the file as hostile. ``verify`` and ``extract`` stream it once; the manifest must
come first and is size-capped before it is parsed; each member must be a regular file the
manifest names, at a path of exactly ``<kind folder>/<safe name>``, no larger than the manifest
says or the cap allows, and its sha256 must match. Links, devices, traversal, duplicates,
unlisted or missing members are refused. ``extract`` writes into a private temporary folder that
becomes visible (one rename) only after every hash matched, so nothing unverified is ever used.

This module imports only Orbit's core modules.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.progress import NullProgress, Progress

FORMAT = "jupyter-orbit-bundle"
VERSION = 1
MANIFEST = "manifest.json"
SUFFIX = ".orbit-bundle.tar.gz"

# kind -> the folder its members live in
KINDS: Mapping[str, str] = {
    "wheel": "wheels",
    "npm": "npm",
    "deb": "apt",
    "conda": "conda",
    "image": "images",
    "dataset": "data",
    "lock": "locks",
    "profile": "profiles",
    "tool": "tools",
}
_FOLDER_KIND = {folder: kind for kind, folder in KINDS.items()}

MAX_MANIFEST_BYTES = 32 * 2**20
MAX_MEMBER_BYTES = 64 * 2**30
MAX_MEMBERS = 100_000
_CHUNK = 2**20
_NAME = re.compile(r"^[A-Za-z0-9_+@~=][A-Za-z0-9_.+@~=-]{0,254}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_META_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class Member:
    """One file in a bundle."""

    path: str  # "<folder>/<name>", POSIX
    kind: str
    sha256: str
    size: int
    needed_by: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.split("/", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "sha256": self.sha256,
            "size": self.size,
            "needed_by": sorted(set(self.needed_by)),
        }
        if self.meta:
            out["meta"] = dict(sorted(self.meta.items()))
        return out


@dataclass(frozen=True)
class Manifest:
    members: tuple[Member, ...]
    name: str = ""
    created: str | None = None  # only a date the caller was given; never "now"
    platform: tuple[str, ...] = ()  # what the binaries are for, e.g. ("linux-x86_64", "cp311")

    def of_kind(self, kind: str) -> list[Member]:
        return [m for m in self.members if m.kind == kind]

    @property
    def total_size(self) -> int:
        return sum(m.size for m in self.members)

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "platform": list(self.platform),
            "members": [m.to_dict() for m in sorted(self.members, key=lambda m: m.path)],
        }
        if self.created:
            data["created"] = self.created
        return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()

    @property
    def digest(self) -> str:
        """The bundle's identity: the sha256 of its manifest (which pins every member)."""
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, raw: bytes, source: Path | str) -> Manifest:
        def bad(why: str) -> InputError:
            return _refused(source, f"its manifest {why}")

        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise bad(f"is not valid JSON ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"is not a {FORMAT} manifest")
        if data.get("version") != VERSION:
            raise InputError(
                f"{source}: bundle format version {data.get('version')!r} is not supported "
                f"(this Orbit reads version {VERSION})",
                "build the bundle with this version of Orbit, or upgrade Orbit",
            )
        raw_members = data.get("members")
        if not isinstance(raw_members, list) or len(raw_members) > MAX_MEMBERS:
            raise bad("has no valid member list")
        members = tuple(_member(m, bad) for m in raw_members)
        seen: set[str] = set()
        for m in members:
            key = m.path.lower()  # case-insensitive file systems would merge these
            if key in seen or m.path == MANIFEST:
                raise bad(f"lists {m.path} twice")
            seen.add(key)
        created = data.get("created")
        platform = data.get("platform", [])
        name = data.get("name", "")
        if not isinstance(name, str) or not (created is None or isinstance(created, str)):
            raise bad("has a malformed name or date")
        if not isinstance(platform, list) or not all(isinstance(p, str) for p in platform):
            raise bad("has a malformed platform list")
        return cls(members, name=name, created=created, platform=tuple(platform))


def check_member_path(path: str) -> str:
    """``path`` if it is exactly ``<kind folder>/<safe name>``, else a ValueError."""
    parts = path.split("/")
    if len(parts) != 2 or parts[0] not in _FOLDER_KIND or not _NAME.match(parts[1]):
        raise ValueError(f"unsafe or unknown member path {path!r}")
    if parts[1] in (".", "..") or ".." in parts[1].split("."):
        raise ValueError(f"unsafe member path {path!r}")
    return path


def _member(raw: object, bad: Any) -> Member:
    if not isinstance(raw, dict):
        raise bad("has a member that is not an object")
    path, kind, sha, size = (raw.get(k) for k in ("path", "kind", "sha256", "size"))
    if not isinstance(path, str):
        raise bad("has a member without a path")
    try:
        check_member_path(path)
    except ValueError as e:
        raise bad(f"names {e}") from None
    if kind not in KINDS or KINDS[kind] != path.split("/")[0]:
        raise bad(f"gives {path} the kind {kind!r}, which does not match its folder")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise bad(f"has no valid sha256 for {path}")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_MEMBER_BYTES:
        raise bad(f"gives {path} an invalid size {size!r}")
    needed = raw.get("needed_by", [])
    meta = raw.get("meta", {})
    if not isinstance(needed, list) or not all(isinstance(n, str) for n in needed):
        raise bad(f"has a malformed needed_by for {path}")
    if not isinstance(meta, dict) or not all(
        isinstance(v, str) and isinstance(k, str) and _META_KEY.match(k) for k, v in meta.items()
    ):
        raise bad(f"has malformed meta for {path}")
    return Member(path, kind, sha, size, tuple(needed), dict(meta))


def _refused(source: Path | str, why: str) -> InputError:
    return InputError(
        f"{source}: bundle refused: {why}",
        "nothing from it was used; get the bundle again from its source (it may be damaged "
        "or tampered with)",
    )


# -- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file to put into a bundle: where it is now, and what it is."""

    file: Path
    kind: str
    name: str = ""  # the file name inside the bundle; default: the file's own name
    needed_by: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return check_member_path(f"{KINDS[self.kind]}/{self.name or self.file.name}")


def sha256_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def plan_manifest(
    entries: Iterable[Entry],
    *,
    name: str = "",
    created: str | None = None,
    platform: Iterable[str] = (),
) -> Manifest:
    """The manifest for ``entries`` (hashing each file; the same path twice must be the same
    file, whose ``needed_by`` are then merged)."""
    by_path: dict[str, Member] = {}
    for e in entries:
        if e.kind not in KINDS:
            raise InputError(
                f"unknown bundle member kind {e.kind!r}", f"one of: {', '.join(KINDS)}"
            )
        sha, size = sha256_file(e.file)
        m = Member(e.path, e.kind, sha, size, tuple(e.needed_by), dict(e.meta))
        if (old := by_path.get(m.path.lower())) is not None:
            if old.sha256 != m.sha256:
                raise InputError(
                    f"two different files would both be {m.path} in the bundle",
                    "rename one of them",
                    path=e.file,
                )
            m = Member(
                old.path, old.kind, old.sha256, old.size, old.needed_by + m.needed_by, old.meta
            )
        by_path[m.path.lower()] = m
    members = tuple(sorted(by_path.values(), key=lambda m: m.path))
    return Manifest(members, name=name, created=created, platform=tuple(platform))


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


@contextlib.contextmanager
def _atomic_out(out: Path) -> Iterator[IO[bytes]]:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_bundle(
    out: Path,
    entries: Iterable[Entry],
    *,
    name: str = "",
    created: str | None = None,
    platform: Iterable[str] = (),
    progress: Progress | None = None,
) -> Manifest:
    """Write the bundle file ``out`` (atomically) and return its manifest."""
    progress = progress or NullProgress()
    entries = list(entries)
    progress.step("hashing", f"{len(entries)} files")
    manifest = plan_manifest(entries, name=name, created=created, platform=platform)
    files = {e.path.lower(): e.file for e in entries}
    raw = manifest.to_json()
    progress.step("writing", f"{out.name} ({_human(manifest.total_size)} before compression)")
    try:
        with (
            _atomic_out(out) as f,
            gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.addfile(_tarinfo(MANIFEST, len(raw)), io.BytesIO(raw))
            for m in manifest.members:
                progress.log(m.path)
                src = files[m.path.lower()]
                with src.open("rb") as data:
                    _add_checked(tar, m, data)
    except OSError as e:
        raise _os_error(e, out) from None
    return manifest


def _add_checked(tar: tarfile.TarFile, m: Member, data: IO[bytes]) -> None:
    """Add ``data`` as ``m``, refusing a file that changed since it was hashed."""
    h = hashlib.sha256()

    class _Hashing(io.RawIOBase):
        def readinto(self, b: Any) -> int:
            chunk = data.read(len(b))
            h.update(chunk)
            b[: len(chunk)] = chunk
            return len(chunk)

        def readable(self) -> bool:
            return True

    tar.addfile(_tarinfo(m.path, m.size), io.BufferedReader(_Hashing(), _CHUNK))
    if h.hexdigest() != m.sha256:
        raise OrbitError(
            f"{m.path} changed while the bundle was being written", "build the bundle again"
        )


def pack_folder(folder: Path, out: Path, *, skip_links: bool = True) -> list[str]:
    """Write ``folder`` as a reproducible plain tar (a ``tool`` member); returns what was left
    out (symbolic links, which a bundle never carries)."""
    skipped: list[str] = []
    files: list[tuple[str, Path]] = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            if not skip_links:
                raise InputError(f"{p} is a symbolic link", "bundles carry regular files only")
            skipped.append(rel)
        elif p.is_file():
            files.append((rel, p))
    with (
        _atomic_out(out) as f,
        tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel, p in files:
            info = _tarinfo(rel, p.stat().st_size)
            if os.access(p, os.X_OK):
                info.mode = 0o755
            with p.open("rb") as data:
                tar.addfile(info, data)
    return skipped


def unpack_folder(tar_path: Path, dest: Path, *, max_bytes: int = MAX_MEMBER_BYTES) -> None:
    """Unpack a ``pack_folder`` tar (already hash-verified) into the new folder ``dest``,
    refusing anything but regular files and folders inside ``dest``."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    total = 0
    try:
        with tarfile.open(tar_path, mode="r|") as tar:
            for info in tar:
                rel = info.name
                parts = rel.split("/")
                if (
                    not info.isreg()
                    or rel.startswith("/")
                    or "\\" in rel
                    or any(p in ("", ".", "..") for p in parts)
                ):
                    raise _refused(tar_path, f"{rel!r} is not a plain file inside the folder")
                total += info.size
                if total > max_bytes:
                    raise _refused(tar_path, "it unpacks to more than the size limit")
                target = tmp.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(info)
                assert src is not None
                with target.open("xb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                target.chmod(0o755 if info.mode & 0o111 else 0o644)
        tmp.replace(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- reading ----------------------------------------------------------------------------------


def _members(source: Path, stream: IO[bytes], max_member: int) -> Iterator[tuple[Any, Any]]:
    """(tarinfo, fileobj) for each member, with the structural checks applied."""
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for info in tar:
                if not info.isreg():
                    what = "a link" if info.issym() or info.islnk() else "not a regular file"
                    raise _refused(source, f"{info.name!r} is {what}")
                if info.size > max_member:
                    raise _refused(source, f"{info.name!r} is larger than the limit")
                yield info, tar.extractfile(info)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise _refused(source, f"it is not a readable tar.gz file ({e})") from None


def _read_verified(
    source: Path,
    *,
    on_member: Any,
    max_member: int,
    progress: Progress,
) -> Manifest:
    try:
        stream = source.open("rb")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file", "give the path of a bundle file") from None
    except OSError as e:
        raise _os_error(e, source) from None
    with stream:
        it = _members(source, stream, max_member)
        first = next(it, None)
        if first is None or first[0].name != MANIFEST:
            raise _refused(source, f"its first member is not {MANIFEST}")
        info, data = first
        if info.size > MAX_MANIFEST_BYTES:
            raise _refused(source, "its manifest is larger than the limit")
        manifest = Manifest.from_json(data.read(), source)
        expected = {m.path: m for m in manifest.members}
        seen: set[str] = set()
        for info, data in it:
            m = expected.get(info.name)
            if m is None or info.name in seen:
                why = "listed twice" if info.name in seen else "not in the manifest"
                raise _refused(source, f"it holds {info.name!r}, {why}")
            if info.size != m.size:
                raise _refused(source, f"{m.path} is {info.size} bytes, the manifest says {m.size}")
            seen.add(info.name)
            progress.log(m.path)
            on_member(m, data)
        if missing := sorted(set(expected) - seen):
            raise _refused(source, f"members listed in its manifest are missing: {missing[:5]}")
        return manifest


def _hash_stream(data: IO[bytes], m: Member, source: Path, sink: IO[bytes] | None) -> None:
    h = hashlib.sha256()
    while chunk := data.read(_CHUNK):
        h.update(chunk)
        if sink is not None:
            sink.write(chunk)
    if h.hexdigest() != m.sha256:
        raise _refused(source, f"{m.path} does not match its sha256 in the manifest")


def verify(
    source: Path, *, max_member: int = MAX_MEMBER_BYTES, progress: Progress | None = None
) -> Manifest:
    """Check the whole bundle file (every hash) without writing anything; its manifest."""
    return _read_verified(
        source,
        on_member=lambda m, data: _hash_stream(data, m, source, None),
        max_member=max_member,
        progress=progress or NullProgress(),
    )


def extract(
    source: Path,
    dest: Path,
    *,
    max_member: int = MAX_MEMBER_BYTES,
    progress: Progress | None = None,
) -> Manifest:
    """Verify and unpack the bundle into the new folder ``dest`` (which must not exist).

    ``dest`` appears, whole, only when every member matched its hash; it then holds
    ``manifest.json`` and the members, read-only.
    """
    progress = progress or NullProgress()
    if dest.exists():
        raise InputError(f"{dest} already exists", "remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _check_space(source, dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))

    def write(m: Member, data: IO[bytes]) -> None:
        target = tmp / m.path
        target.parent.mkdir(exist_ok=True)
        with target.open("xb") as out:
            _hash_stream(data, m, source, out)
        target.chmod(0o444)

    try:
        progress.step("verifying and unpacking", source.name)
        manifest = _read_verified(source, on_member=write, max_member=max_member, progress=progress)
        (tmp / MANIFEST).write_bytes(manifest.to_json())
        (tmp / MANIFEST).chmod(0o444)
        tmp.chmod(0o755)
        tmp.replace(dest)
    except OSError as e:
        _remove_tree(tmp)
        raise _os_error(e, dest) from None
    except BaseException:
        _remove_tree(tmp)
        raise
    return manifest


def read_installed(folder: Path) -> Manifest:
    """The manifest of an extracted bundle (written by ``extract`` after verification)."""
    path = folder / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{folder}: not an installed bundle", "install the bundle again") from None
    return Manifest.from_json(raw, path)


def check_installed(folder: Path, manifest: Manifest, *, hashes: bool = False) -> None:
    """Every member of an extracted bundle is there with its size (and, with ``hashes``, its
    sha256): a quick check before a registry serves the folder."""
    for m in manifest.members:
        p = folder / m.path
        try:
            st = p.lstat()
        except FileNotFoundError:
            raise _refused(folder, f"{m.path} is missing") from None
        if not p.is_file() or p.is_symlink() or st.st_size != m.size:
            raise _refused(folder, f"{m.path} was changed after it was installed")
        if hashes and sha256_file(p)[0] != m.sha256:
            raise _refused(folder, f"{m.path} was changed after it was installed")


def _remove_tree(path: Path) -> None:
    def writable(func: Any, p: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            Path(p).parent.chmod(0o755)
            Path(p).chmod(0o644)
            func(p)

    shutil.rmtree(path, onerror=writable)


def remove_installed(folder: Path) -> None:
    """Delete an extracted bundle (its files are read-only)."""
    _remove_tree(folder)


def _check_space(source: Path, where: Path) -> None:
    """Refuse early when the unpacked bundle cannot fit (compressed size is a lower bound)."""
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(where).free
        need = source.stat().st_size
        if need > free:
            raise OrbitError(
                f"not enough disk space in {where}: the bundle needs at least {_human(need)}, "
                f"{_human(free)} free",
                "free some space or install to another ORBIT_HOME",
            )


def _os_error(e: OSError, path: Path) -> OrbitError:
    import errno

    if e.errno == errno.ENOSPC:
        return OrbitError(f"no space left on the device while writing {path}", "free some space")
    if e.errno in (errno.EACCES, errno.EPERM):
        return OrbitError(f"permission denied: {e.filename or path}", "check the folder's owner")
    return OrbitError(f"{path}: {e.strerror or e}", None)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


human_size = _human
