"""A project's files to Orbit's copy on a remote host, and results back, over SFTP.

Like rsync, only what changed travels: files are compared by size and modification time, and
where only the time differs, by content hash. The remote copy lives in
``~/.cache/orbit-remote/projects/<folder>-<key>/`` beside a record of what Orbit sent
(``<folder>-<key>.sync.json``), which makes two things safe:

- a file deleted here is deleted there only if Orbit sent it and it is unchanged there; files the
  kernel wrote on the remote are never deleted by a sync (``pull`` brings them back);
- ``pull`` brings back what changed on the remote since it was sent (or is new there), and never
  overwrites a local file that changed here since then: that is reported as a conflict.

What ``exclude.Rules`` leaves out is listed, and so are private keys whatever their names;
symbolic links that lead out of the project are refused (and listed), links inside it are
recreated as links. Files are written to a temporary name and renamed into place on both sides,
so an interrupted transfer leaves no half file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit.errors import InputError
from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.remote.exclude import Excluded, Rules
from jupyter_orbit.remote.session import Session

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """How much a sync may send before it stops and asks for an .orbitignore (a server rooted
    at a home folder must not copy the whole home to a host)."""

    files: int = 20_000
    bytes: int = 2 * 1024**3


NO_LIMITS = Limits(10**12, 10**18)


@dataclass(frozen=True)
class Entry:
    """A file or link in a tree, as far as comparing needs."""

    kind: str  # "file" or "link"
    size: int = 0
    mtime: int = 0  # whole seconds: what SFTP keeps
    mode: int = 0o644
    target: str = ""  # a link's target (relative, inside the project)
    mtime_ns: int = 0  # here only: the exact time, which SFTP cannot carry


@dataclass
class Tree:
    entries: dict[str, Entry] = field(default_factory=dict)
    excluded: list[Excluded] = field(default_factory=list)


@dataclass(frozen=True)
class Sent:
    """What Orbit last put in (or took from) the remote copy for one path."""

    size: int
    mtime: int
    sha256: str | None = None
    mtime_ns: int | None = None  # the local file's exact time when sent or pulled

    def differs_from(self, here: Entry) -> bool:
        """Whether the local file changed since: a change within the same second counts."""
        if here.size != self.size:
            return True
        if self.mtime_ns and here.mtime_ns:
            return here.mtime_ns != self.mtime_ns
        return here.mtime != self.mtime


@dataclass(frozen=True)
class PushPlan:
    send: tuple[tuple[str, str], ...]  # (path, "new" | "changed")
    check: tuple[str, ...]  # same size, other time: sent only if the hashes differ
    delete: tuple[str, ...]
    kept: tuple[str, ...]  # only on the remote, and not Orbit's: written there, kept
    unchanged: int
    excluded: tuple[Excluded, ...]


@dataclass(frozen=True)
class PullPlan:
    fetch: tuple[tuple[str, str], ...]  # (path, "new" | "changed")
    conflicts: tuple[tuple[str, str], ...]  # (path, why it is not overwritten)
    unchanged: int
    skipped: tuple[Excluded, ...]
    check: tuple[str, ...] = ()  # same size and time on both sides, not as sent: hashes decide


@dataclass
class SyncReport:
    """What a push or pull did (or, dry, would do)."""

    remote_root: str
    sent: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    unchanged: int = 0
    bytes: int = 0


# -- pure ---------------------------------------------------------------------------------


def scan_local(root: Path, rules: Rules, limits: Limits = NO_LIMITS) -> Tree:
    """Every file and link under ``root`` that may be synced, and what is left out."""
    tree = Tree()
    real_root = root.resolve()
    size = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        if len(tree.entries) > limits.files:
            raise _too_big(root, f"more than {limits.files} files")
        if size > limits.bytes:
            raise _too_big(root, f"more than {_human(limits.bytes)}")
        here = Path(folder)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in sorted(dirs):
            rel = prefix + name
            if (here / name).is_symlink():
                files.append(name)  # a link to a folder: judged as a link below
                dirs.remove(name)
            elif reason := rules.reason(rel, is_dir=True):
                tree.excluded.append(Excluded(rel + "/", reason))
                dirs.remove(name)
        for name in sorted(files):
            rel = prefix + name
            path = here / name
            if reason := rules.reason(rel):
                tree.excluded.append(Excluded(rel, reason))
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = _link_inside(path, real_root)
                if target is None:
                    tree.excluded.append(
                        Excluded(rel, "link leading outside the project", refused=True)
                    )
                else:
                    tree.entries[rel] = Entry("link", 0, int(st.st_mtime), 0o777, target)
            elif stat.S_ISREG(st.st_mode) and _private_key(path, st.st_size):
                tree.excluded.append(Excluded(rel, "secret (a private key)"))
            elif stat.S_ISREG(st.st_mode):
                size += st.st_size
                tree.entries[rel] = Entry(
                    "file",
                    st.st_size,
                    int(st.st_mtime),
                    stat.S_IMODE(st.st_mode),
                    mtime_ns=st.st_mtime_ns,
                )
            else:
                tree.excluded.append(Excluded(rel, "not a regular file"))
    tree.excluded.sort(key=lambda e: e.path)
    return tree


def _too_big(root: Path, what: str) -> InputError:
    return InputError(
        f"{root} holds {what} to sync to the remote host",
        "open a smaller project folder, or leave data out with a .orbitignore at its root "
        "(`orbit remote sync --no-limit` sends it all anyway)",
        path=root,
    )


def _private_key(path: Path, size: int) -> bool:
    """Whether a small file is a private key, whatever its name (PEM or OpenSSH format)."""
    if size > 64 * 1024:
        return False
    try:
        with path.open("rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return b"-----BEGIN" in head and b"PRIVATE KEY-----" in head


def _link_inside(link: Path, real_root: Path) -> str | None:
    """The link's target relative to its folder if it resolves inside the project, else None."""
    try:
        resolved = link.resolve(strict=False)
    except (OSError, RuntimeError):  # a loop
        return None
    if resolved == real_root or not resolved.is_relative_to(real_root):
        return None
    return os.path.relpath(resolved, link.parent.resolve())


def plan_push(local: Tree, remote: dict[str, Entry], sent: dict[str, Sent]) -> PushPlan:
    send: list[tuple[str, str]] = []
    check: list[str] = []
    unchanged = 0
    for path, e in sorted(local.entries.items()):
        r = remote.get(path)
        if r is None:
            send.append((path, "new"))
        elif r.kind != e.kind or (e.kind == "link" and r.target != e.target):
            send.append((path, "changed"))
        elif e.kind == "link":
            unchanged += 1
        elif r.size != e.size:
            send.append((path, "changed"))
        elif r.mtime != e.mtime:
            check.append(path)
        elif (s := sent.get(path)) and (s.size, s.mtime) == (r.size, r.mtime) and s.differs_from(e):
            check.append(path)  # changed here within the second it was sent
        else:
            unchanged += 1
    delete: list[str] = []
    kept: list[str] = []
    for path, r in sorted(remote.items()):
        if path in local.entries:
            continue
        s = sent.get(path)
        if s is not None and (r.kind == "link" or (r.size, r.mtime) == (s.size, s.mtime)):
            delete.append(path)  # Orbit put it there and nobody changed it since
        else:
            kept.append(path)
    return PushPlan(
        tuple(send), tuple(check), tuple(delete), tuple(kept), unchanged, tuple(local.excluded)
    )


def plan_pull(local: Tree, remote: dict[str, Entry], sent: dict[str, Sent]) -> PullPlan:
    fetch: list[tuple[str, str]] = []
    conflicts: list[tuple[str, str]] = []
    skipped: list[Excluded] = []
    check: list[str] = []
    unchanged = 0
    for path, r in sorted(remote.items()):
        if r.kind != "file":
            skipped.append(Excluded(path, "a link on the remote (not pulled)"))
            continue
        s = sent.get(path)
        if s is not None and (r.size, r.mtime) == (s.size, s.mtime):
            unchanged += 1  # as Orbit left it
            continue
        here = local.entries.get(path)
        if here is None:
            fetch.append((path, "new" if s is None else "changed"))
        elif here.kind != "file":
            conflicts.append((path, "a link here"))
        elif (here.size, here.mtime) == (r.size, r.mtime):
            check.append(path)  # looks the same on both sides: the contents decide
        elif s is None:
            conflicts.append((path, "exists here too and differs"))
        elif s.differs_from(here):
            conflicts.append((path, "changed here and on the remote"))
        else:
            fetch.append((path, "changed"))
    return PullPlan(tuple(fetch), tuple(conflicts), unchanged, tuple(skipped), tuple(check))


def project_key(root: Path) -> str:
    """The remote copy's folder name: readable, and unique per machine and local path."""
    machine = ""
    for f in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            machine = Path(f).read_text().strip()
            break
    digest = hashlib.sha256(f"{machine}\0{root.resolve()}".encode()).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in root.resolve().name)
    return f"{name[:40] or 'project'}-{digest}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# -- over SFTP ----------------------------------------------------------------------------


class ProjectSync:
    """Sync one local project folder with its copy on one remote host."""

    def __init__(
        self,
        session: Session,
        root: Path,
        progress: Progress | None = None,
        limits: Limits | None = None,
    ) -> None:
        if not root.is_dir():
            raise InputError(f"{root}: not a folder", "give the project folder", path=root)
        self.session = session
        self.root = root.resolve()
        self.progress = progress or NullProgress()
        self.limits = limits or Limits()
        self.rules = Rules.for_project(self.root)
        self.key = project_key(self.root)

    async def remote_root(self) -> str:
        return await self.session.orbit_dir("projects", self.key)

    async def _record_path(self) -> str:
        return await self.session.orbit_dir("projects", f"{self.key}.sync.json")

    # -- the record of what was sent --

    async def _read_record(self) -> dict[str, Sent]:
        lib = _lib()
        sftp = await self.session.sftp()
        path = await self._record_path()
        try:
            async with self.session.guard("reading the sync record"), sftp.open(path, "rb") as f:
                data = json.loads(await f.read())
        except lib.SFTPNoSuchFile:
            return {}
        except ValueError:
            return {}  # damaged: nothing is deleted on its word
        files = data.get("files", {}) if isinstance(data, dict) else {}
        return {
            p: Sent(int(v["size"]), int(v["mtime"]), v.get("sha256"), v.get("mtime_ns"))
            for p, v in files.items()
            if isinstance(v, dict) and "size" in v and "mtime" in v
        }

    async def _write_record(self, record: dict[str, Sent]) -> None:
        data = {
            "version": 1,
            "local": str(self.root),
            "files": {
                p: {"size": s.size, "mtime": s.mtime, "sha256": s.sha256, "mtime_ns": s.mtime_ns}
                for p, s in sorted(record.items())
            },
        }
        await self._put_bytes(await self._record_path(), json.dumps(data).encode(), 0o600)

    # -- listing --

    async def scan_remote(self) -> dict[str, Entry]:
        lib = _lib()
        sftp = await self.session.sftp()
        root = await self.remote_root()
        out: dict[str, Entry] = {}
        stack = [""]
        while stack:
            rel = stack.pop()
            folder = f"{root}/{rel}" if rel else root
            try:
                async with self.session.guard("listing the remote copy"):
                    names = await sftp.readdir(folder)
            except lib.SFTPNoSuchFile:
                continue
            for n in names:
                if n.filename in (".", ".."):
                    continue
                path = f"{rel}/{n.filename}" if rel else n.filename
                mode = n.attrs.permissions or 0
                if stat.S_ISDIR(mode):
                    if not self.rules.reason(path, is_dir=True):
                        stack.append(path)
                elif self.rules.reason(path):
                    continue
                elif stat.S_ISLNK(mode):
                    async with self.session.guard("reading a link"):
                        target = await sftp.readlink(f"{folder}/{n.filename}")
                    out[path] = Entry("link", 0, int(n.attrs.mtime or 0), 0o777, target)
                elif stat.S_ISREG(mode):
                    out[path] = Entry(
                        "file", int(n.attrs.size or 0), int(n.attrs.mtime or 0), mode & 0o777
                    )
        return out

    # -- push --

    async def plan(self) -> tuple[PushPlan, Tree, dict[str, Entry], dict[str, Sent]]:
        local = scan_local(self.root, self.rules, self.limits)
        remote = await self.scan_remote()
        record = await self._read_record()
        return plan_push(local, remote, record), local, remote, record

    async def push(self, *, dry_run: bool = False) -> SyncReport:
        """Make the remote copy match the project (see the module's rules)."""
        plan, local, remote, record = await self.plan()
        root = await self.remote_root()
        report = SyncReport(root, excluded=list(plan.excluded), kept=list(plan.kept))
        report.unchanged = plan.unchanged
        to_send = list(plan.send)
        for path in plan.check:  # same size, other time: the hashes decide
            mine = file_sha256(self.root / path)
            s, r = record.get(path), remote[path]
            if s is not None and (s.size, s.mtime) == (r.size, r.mtime) and s.sha256:
                theirs = s.sha256
            else:
                theirs = await self._remote_sha256(f"{root}/{path}")
            if mine == theirs:
                report.unchanged += 1
                if not dry_run:
                    e = local.entries[path]
                    await self._touch(f"{root}/{path}", e.mtime)
                    record[path] = Sent(r.size, e.mtime, mine, e.mtime_ns)
            else:
                to_send.append((path, "changed"))
        size = sum(local.entries[p].size for p, _ in to_send)
        self.progress.step(
            "sync",
            f"{len(to_send)} files to send ({_human(size)}), {report.unchanged} unchanged, "
            f"{len(plan.delete)} to delete, {len(plan.excluded)} excluded",
        )
        for ex in plan.excluded:
            if ex.refused:
                self.progress.warn(f"not synced: {ex.path} ({ex.reason})")
        if dry_run:
            report.sent = [p for p, _ in to_send]
            report.deleted = list(plan.delete)
            report.bytes = size
            return report
        sftp = await self.session.sftp()
        async with self.session.guard("creating the remote copy"):
            await sftp.makedirs(root, exist_ok=True)
        try:
            await self._send(to_send, plan.delete, local, record, report, root)
        except BaseException:
            with contextlib.suppress(Exception):  # keep what did arrive; the failure is told
                await self._write_record(record)
            raise
        await self._write_record(record)
        return report

    async def _send(
        self,
        to_send: list[tuple[str, str]],
        delete: tuple[str, ...],
        local: Tree,
        record: dict[str, Sent],
        report: SyncReport,
        root: str,
    ) -> None:
        for path, _ in sorted(to_send):
            e = local.entries[path]
            self.progress.log(f"send {path}")
            if e.kind == "link":
                await self._put_link(f"{root}/{path}", e.target)
                record[path] = Sent(0, e.mtime)
            else:
                sha = await self._put_file(self.root / path, f"{root}/{path}", e)
                record[path] = Sent(e.size, e.mtime, sha, e.mtime_ns)
                report.bytes += e.size
            report.sent.append(path)
        for path in delete:
            self.progress.log(f"delete {path}")
            await self._remove(f"{root}/{path}")
            record.pop(path, None)
            report.deleted.append(path)
        await self._prune_dirs(root, delete, local)

    async def _put_file(self, local: Path, remote: str, e: Entry) -> str:
        lib = _lib()
        sftp = await self.session.sftp()
        folder, name = remote.rsplit("/", 1)
        tmp = f"{folder}/.orbit-tmp-{secrets.token_hex(4)}-{name}"[:4000]
        sha = file_sha256(local)
        try:
            async with self.session.guard(f"sending {local.name}"):
                await sftp.makedirs(folder, exist_ok=True)
                await sftp.put(str(local), tmp)
                await sftp.chmod(tmp, e.mode & 0o755)
                await sftp.utime(tmp, (e.mtime, e.mtime))
                with contextlib.suppress(lib.SFTPNoSuchFile):
                    attrs = await sftp.lstat(remote)
                    if stat.S_ISLNK(attrs.permissions or 0):
                        await sftp.remove(remote)
                await sftp.posix_rename(tmp, remote)
        except lib.SFTPError as err:
            # Judged before the partial file goes: a full disk shows while it is there.
            failure = await self.session.sftp_error(
                f"sending {local.relative_to(self.root)}", err, tmp
            )
            with contextlib.suppress(Exception):
                await sftp.remove(tmp)
            raise failure from None
        return sha

    async def _put_link(self, remote: str, target: str) -> None:
        lib = _lib()
        sftp = await self.session.sftp()
        folder = remote.rsplit("/", 1)[0]
        try:
            async with self.session.guard("creating a link"):
                await sftp.makedirs(folder, exist_ok=True)
                with contextlib.suppress(lib.SFTPNoSuchFile):
                    await sftp.remove(remote)
                await sftp.symlink(target, remote)
        except lib.SFTPError as err:
            raise await self.session.sftp_error("creating a link", err, remote) from None

    async def _put_bytes(self, remote: str, data: bytes, mode: int) -> None:
        lib = _lib()
        sftp = await self.session.sftp()
        folder = remote.rsplit("/", 1)[0]
        tmp = f"{remote}.{secrets.token_hex(4)}.tmp"
        try:
            async with self.session.guard("writing the sync record"):
                await sftp.makedirs(folder, exist_ok=True)
                async with sftp.open(tmp, "wb", attrs=lib.SFTPAttrs(permissions=mode)) as f:
                    await f.write(data)
                await sftp.posix_rename(tmp, remote)
        except lib.SFTPError as err:
            failure = await self.session.sftp_error("writing the sync record", err, tmp)
            with contextlib.suppress(Exception):
                await sftp.remove(tmp)
            raise failure from None

    async def _touch(self, remote: str, mtime: int) -> None:
        sftp = await self.session.sftp()
        async with self.session.guard("setting a time"):
            await sftp.utime(remote, (mtime, mtime))

    async def _remove(self, remote: str) -> None:
        lib = _lib()
        sftp = await self.session.sftp()
        async with self.session.guard("deleting a file"):
            with contextlib.suppress(lib.SFTPNoSuchFile):
                await sftp.remove(remote)

    async def _prune_dirs(self, root: str, deleted: tuple[str, ...], local: Tree) -> None:
        """Remove remote folders emptied by deletions that no longer exist here."""
        lib = _lib()
        sftp = await self.session.sftp()
        folders = sorted(
            {str(Path(p).parent) for p in deleted} - {"."}, key=lambda f: -f.count("/")
        )
        for folder in folders:
            for parent in [folder, *map(str, Path(folder).parents)]:
                if parent == "." or (self.root / parent).is_dir():
                    break
                with contextlib.suppress(lib.SFTPError):
                    async with self.session.guard("removing an empty folder"):
                        await sftp.rmdir(f"{root}/{parent}")

    async def _remote_sha256(self, remote: str) -> str:
        sftp = await self.session.sftp()
        h = hashlib.sha256()
        async with self.session.guard("hashing a remote file"), sftp.open(remote, "rb") as f:
            while chunk := await f.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()

    # -- pull --

    async def pull(self, *, dry_run: bool = False) -> SyncReport:
        """Bring back files that are new or changed on the remote (see the module's rules)."""
        lib = _lib()
        local = scan_local(self.root, self.rules)
        remote = await self.scan_remote()
        record = await self._read_record()
        plan = plan_pull(local, remote, record)
        root = await self.remote_root()
        report = SyncReport(root, excluded=list(plan.skipped), unchanged=plan.unchanged)
        report.conflicts = list(plan.conflicts)
        for path in plan.check:
            if file_sha256(self.root / path) == await self._remote_sha256(f"{root}/{path}"):
                report.unchanged += 1
                r = remote[path]
                record[path] = Sent(r.size, r.mtime, None, local.entries[path].mtime_ns)
            else:
                report.conflicts.append((path, "differs here and on the remote"))
        self.progress.step(
            "pull",
            f"{len(plan.fetch)} files to fetch, {len(plan.conflicts)} conflicts, "
            f"{plan.unchanged} unchanged",
        )
        if dry_run:
            report.fetched = [p for p, _ in plan.fetch]
            return report
        sftp = await self.session.sftp()
        try:
            for path, _ in plan.fetch:
                r = remote[path]
                target = self._local_path(path)
                before = local.entries.get(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.parent / f".orbit-pull-{secrets.token_hex(4)}-{target.name}"
                try:
                    async with self.session.guard(f"fetching {path}"):
                        await sftp.get(f"{root}/{path}", str(tmp))
                    os.utime(tmp, (r.mtime, r.mtime))
                    if _stat_key(target) != (
                        (before.size, before.mtime) if before is not None else None
                    ):
                        report.conflicts.append((path, "changed here during the pull"))
                        continue
                    tmp.replace(target)
                except lib.SFTPError as err:
                    raise await self.session.sftp_error(f"fetching {path}", err, path) from None
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                record[path] = Sent(r.size, r.mtime, None, r.mtime * 10**9)
                report.fetched.append(path)
                report.bytes += r.size
        finally:
            if report.fetched or plan.check:
                await self._write_record(record)
        return report

    def _local_path(self, rel: str) -> Path:
        """Where a pulled file goes: inside the project, through no link that leaves it."""
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts) or rel.startswith("/"):
            raise InputError(f"refusing the remote path {rel!r}", "it would leave the project")
        target = self.root.joinpath(*parts)
        parent = target.parent
        existing = parent
        while not existing.exists():
            existing = existing.parent
        if not existing.resolve().is_relative_to(self.root) or target.is_symlink():
            raise InputError(
                f"refusing to write {rel}: a link would take it out of the project",
                "remove the link, or pull into a copy of the project",
                path=target,
            )
        return target


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, int(st.st_mtime)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _lib() -> Any:
    from jupyter_orbit.remote._lib import asyncssh

    return asyncssh()
