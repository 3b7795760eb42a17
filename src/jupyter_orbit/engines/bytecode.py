"""Bytecode compiled once per source file, stored once on disk.

Environments hold files of their own (``linkmode``), so ten environments with pandas hold ten
copies of its sources; compiled inside each environment, their ``.pyc`` files would be ten more
copies, and ten compilations. Instead:

* we compile with a fixed recorded path (``compileall -s BUILD -p /orbit-env``) and hash-based
  invalidation (``--invalidation-mode checked-hash``: Python checks the source's hash, not its
  modification time, which differs between copies), which makes the bytecode of one source
  byte-identical in every environment;
* every ``.pyc`` is hardlinked into a content-addressed store, indexed by the source it was
  compiled from (its content and its path inside site-packages), read-only: Python replaces a
  ``.pyc`` by renaming a new file over it and never writes into one, so a shared ``.pyc`` is
  never changed through one environment;
* a new environment first links the bytecode of every source the store has seen, so
  ``compileall`` only compiles what is new.

A new environment's bytecode is made in the background, after the environment is in place
(``start``): its kernel can start at once, and Python reads the sources it imports before the
bytecode is there. What the store already has is linked by the build itself, before the commit
(a fraction of a second for numpy and pandas): the first kernel then imports compiled code for
every package an earlier environment had, and only what is new waits for the job. The job
first gives the environment's files that uv hardlinked from its cache copies of their own
(``linkmode.own_files``), outside the store's lock, so that this happens seconds after the
build, however many jobs wait for the store (``orbit/own.pending`` until then: a clone of the
environment waits for it). For its bytecode the job holds the store's lock,
so jobs compile one after the other and each reuses what the one before it stored;
``orbit/bytecode.pending`` says a job has not finished (``wait``). A ``.pyc`` a running kernel
wrote meanwhile (timestamp-based, valid for that copy only) is never stored.

The job's process holds ``orbit/bytecode.lock`` (an ``flock`` taken by the command that starts
it, handed over with the file descriptor) for as long as it lives, so "pending, and the lock is
free" means a job that never ran (the command that built the environment was killed between its
commit and the job's start) or died. The engine's look-up starts such a job again (``start``
takes the lock or starts nothing), so an environment never keeps files shared with uv's cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

RECORDED_PREFIX = "/orbit-env"
# Test suites shipped inside packages (pandas/tests alone is half of pandas) are rarely imported;
# Python compiles them on first use, if ever.
SKIP = re.compile(r"[\\/]tests?[\\/]")
PENDING = "bytecode.pending"  # in an environment's orbit/ folder while its job has not finished
OWN_PENDING = "own.pending"  # … while it has not given the environment files of its own
JOB_LOCK = "bytecode.lock"  # … locked by the job's process while it lives
_CHECKED_HASH = 0b11  # a .pyc's flags: hash-based, checked against the source
_NT = os.name == "nt"  # where glob ignores case


def compile_tree(
    python: Path,
    prefix: Path,
    targets: list[Path],
    *,
    to_compile: int | list[Path],
    one_process: bool = False,
    force: bool = False,
) -> None:
    """Compile what is not compiled yet (``to_compile``: the sources the store had no
    bytecode for, or a count meaning "the whole of ``targets``"); failures in odd files are
    ignored, as pip and uv do. ``force``: also the sources whose bytecode looks up to date.

    compileall's process pool costs seconds just to check thousands of files that are already
    compiled (and with hash-based bytecode its check always fails), so only the sources that
    need it are handed to it.
    """
    if isinstance(to_compile, list):
        if not to_compile:
            return
        names = [str(p) for p in to_compile]
    else:
        names = [str(t) for t in targets if t.exists()]
        if not names:
            return
    subprocess.run(
        [
            str(python),
            "-I",  # run from wherever the caller is (a project): import nothing from there
            "-m",
            "compileall",
            "-q",
            *(["-f"] if force else []),
            "-j",
            "0"
            if not one_process
            and (len(names) > 300 or (isinstance(to_compile, int) and to_compile > 300))
            else "1",
            "-s",
            str(prefix),
            "-p",
            RECORDED_PREFIX,
            "--invalidation-mode",
            "checked-hash",
            "-x",
            SKIP.pattern,
            "-i",
            "-",  # the names, one a line, on stdin
        ],
        input="\n".join(names) + "\n",
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=False,
    )


class BytecodeStore:
    def __init__(self, root: Path, cache_tag: str) -> None:
        self.objects = root / "objects"
        self.by_source = root / "by-source"
        self.tag = cache_tag  # e.g. "cpython-311"

    def _key(self, source: Path) -> Path:
        return Path(self._key_path(os.fspath(source)))

    def _key_path(self, source: str) -> str:
        digest = hashlib.sha256()
        digest.update(_in_site(source).encode("utf-8", "surrogateescape") + b"\0")
        with open(source, "rb", buffering=0) as f:  # noqa: PTH123
            digest.update(f.read())
        return f"{self.by_source}{os.sep}{self.tag}-{digest.hexdigest()[:40]}"

    def _pyc(self, source: Path) -> Path:
        return source.parent / "__pycache__" / f"{source.stem}.{self.tag}.pyc"

    def link_known(self, targets: list[Path]) -> list[Path]:
        """Put already-compiled bytecode in place; returns the sources that still need it.

        Thousands of sources, while the build waits: paths are str, not a Path for each."""
        missing: list[Path] = []
        for folder, names in _folders(targets):
            cache = f"{folder}__pycache__"
            made = False
            for name in names:
                source = folder + name
                pyc = f"{cache}{os.sep}{name[:-3] or name}.{self.tag}.pyc"  # ".py": no suffix
                try:
                    # linked already (by the build, before its kernel started): only the store's
                    # .pyc files have other links, so the source need not be hashed again
                    if os.stat(pyc).st_nlink > 1:  # noqa: PTH116
                        continue
                    present = True
                except FileNotFoundError:
                    present = False
                except OSError:
                    present = True
                try:
                    key = self._key_path(source)
                    if not os.path.exists(key):  # noqa: PTH110
                        missing.append(Path(source))
                        continue
                    if not made:  # once per folder, not per file
                        with contextlib.suppress(FileExistsError):
                            Path(cache).mkdir()
                        made = True
                    if not present:
                        try:
                            os.link(key, pyc)  # nothing to replace: no temporary name
                            continue
                        except FileExistsError:  # a kernel wrote one since the stat
                            pass
                except OSError:
                    missing.append(Path(source))
                    continue
                # over a .pyc a kernel wrote meanwhile (valid for this copy only): a rename, so
                # an import reading it reads one or the other, whole
                tmp = Path(f"{pyc}.orbit-link")
                try:
                    os.link(key, tmp)
                    tmp.replace(pyc)
                except OSError:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                    missing.append(Path(source))
        return missing

    def keep(self, targets: list[Path]) -> None:
        """Move the bytecode just compiled into the store, leaving hardlinks behind."""
        self.objects.mkdir(parents=True, exist_ok=True)
        self.by_source.mkdir(parents=True, exist_ok=True)
        for source in _sources(targets):
            pyc = self._pyc(source)
            key = self._key(source)
            if not pyc.exists() or key.exists():
                continue
            try:
                data = pyc.read_bytes()
            except OSError:
                continue
            if int.from_bytes(data[4:8], "little") != _CHECKED_HASH:
                continue  # written by a kernel meanwhile: valid for this copy of the source only
            if not _whole(data):  # cut short (a full disk): Python would fail to import it
                with contextlib.suppress(OSError):
                    pyc.unlink()  # it compiles the source instead
                continue
            obj = self.objects / hashlib.sha256(data).hexdigest()
            try:
                if obj.exists():
                    tmp = pyc.with_name(pyc.name + ".orbit-link")
                    os.link(obj, tmp)
                    tmp.replace(pyc)
                else:
                    if os.name == "posix":  # shared from now on: never written through a link
                        pyc.chmod(0o444)
                    os.link(pyc, obj)
                os.link(obj, key)
            except OSError:  # another filesystem, or a race with a concurrent build
                continue


def _whole(pyc: bytes) -> bool:
    """Whether a ``.pyc``'s code unmarshals: compileall writes with one raw write, which a
    full disk can cut short without an error, and a shared short file would break the import
    in every environment that links it."""
    try:
        marshal.loads(pyc[16:])
    except (EOFError, ValueError, TypeError):
        return False
    return True


def _in_site(source: str | Path) -> str:
    """The source's path inside site-packages (the same in every environment)."""
    text = os.fspath(source)
    if os.sep != "/":
        text = text.replace(os.sep, "/")
    return text.split("/site-packages/", 1)[-1]


def _folders(targets: list[Path]) -> Iterator[tuple[str, list[str]]]:
    """The folders under ``targets`` that hold sources, each as a path ending in a separator
    ("" for the working folder), with their sources' names: what ``rglob("*.py")`` finds outside
    ``SKIP``, without a Path for each of the environment's files. ``SKIP`` matches a folder (a
    file matches it when its folder does), so the folders it leaves out are not even read."""
    for target in targets:
        top = os.fspath(target)
        # as pathlib spells them: "a.py", not "./a.py"
        base = "" if top == os.curdir else os.path.join(top, "")  # noqa: PTH118
        if SKIP.search(base):
            continue
        stack = [base]
        while stack:
            base = stack.pop()
            names, subs = [], []
            try:
                with os.scandir(base or os.curdir) as entries:
                    for entry in entries:
                        name = entry.name
                        if entry.is_dir(follow_symlinks=False):  # rglob enters no linked folder
                            if not SKIP.search(sub := f"{base}{name}{os.sep}"):
                                subs.append(sub)
                        elif (name.lower() if _NT else name).endswith(".py"):
                            with contextlib.suppress(OSError):
                                if entry.is_dir():  # a link to a folder
                                    continue
                            names.append(name)
            except OSError:  # a folder removed or unreadable meanwhile, as rglob skips it
                continue
            if names:
                yield base, names
            stack.extend(reversed(subs))  # in rglob's order


def _sources(targets: list[Path]) -> Iterator[Path]:
    for folder, names in _folders(targets):
        for name in names:
            yield Path(folder + name)


# -- in the background -------------------------------------------------------------------------


def schedule(meta: Path) -> None:
    """Mark the environment being built (its ``orbit/`` folder) as waiting for its job: files of
    its own, then bytecode."""
    (meta / OWN_PENDING).write_text("")
    (meta / PENDING).write_text("")


def start(prefix: Path, store: Path, tag: str | None) -> subprocess.Popen | None:
    """Give the environment at ``prefix`` (in place, complete) files of its own and make its
    bytecode, in a process of its own at low priority, which outlives this one; None when
    nothing is pending or a job for it is running already."""
    if not (prefix / "orbit" / PENDING).exists():
        return None
    lock = _lock_job(prefix)
    if lock is None:
        return None
    args = [sys.executable, "-I", "-m", "jupyter_orbit.engines.bytecode", str(prefix), str(store)]
    try:
        if not (prefix / "orbit" / PENDING).exists():  # a job ended just before the lock
            return None
        return subprocess.Popen(
            [*args, tag or ""],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not stopped with the command that built the environment
            close_fds=True,
            pass_fds=() if lock < 0 else (lock,),  # the job holds the lock until it exits
            env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        )
    except OSError:  # the environment works without: Python compiles what it imports
        from jupyter_orbit import linkmode

        try:
            linkmode.own_files(prefix)  # but not without files of its own
        finally:
            (prefix / "orbit" / OWN_PENDING).unlink(missing_ok=True)
            (prefix / "orbit" / PENDING).unlink(missing_ok=True)
        return None
    finally:
        if lock >= 0:
            os.close(lock)  # this process's copy only: the job's keeps the lock


def _lock_job(prefix: Path) -> int | None:
    """An open, locked descriptor of the environment's job lock; None when a job holds it;
    -1 where there is no ``flock`` (the job then runs unguarded)."""
    try:
        import fcntl
    except ImportError:
        return -1
    try:
        fd = os.open(prefix / "orbit" / JOB_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None  # a folder we cannot write: no job could work in it either
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def finish(prefix: Path, store: Path, tag: str | None) -> None:
    """The background job: files of the environment's own, then bytecode: link what the store
    knows, compile the rest, store it."""
    from filelock import FileLock

    from jupyter_orbit import linkmode
    from jupyter_orbit.pythons import site_packages, venv_python

    with contextlib.suppress(OSError):
        os.nice(10)
    try:
        try:
            linkmode.own_files(prefix)
        finally:
            (prefix / "orbit" / OWN_PENDING).unlink(missing_ok=True)
        store.mkdir(parents=True, exist_ok=True)
        with FileLock(store / ".lock"):
            site = site_packages(prefix)
            shared = BytecodeStore(store, tag) if tag else None
            to_compile = shared.link_known(site) if shared is not None else 10**6
            # one process: a core stays free for the kernel that may be starting meanwhile;
            # forced, since compileall takes a .pyc a kernel wrote meanwhile as up to date
            python = venv_python(prefix)
            compile_tree(python, prefix, site, to_compile=to_compile, one_process=True, force=True)
            if shared is not None:
                shared.keep(site)
    except OSError:
        pass  # the environment was removed meanwhile, or the disk is full: only bytecode
    finally:
        with contextlib.suppress(OSError):
            (prefix / "orbit" / PENDING).unlink(missing_ok=True)


def pending(prefix: Path) -> bool:
    return (prefix / "orbit" / PENDING).exists()


def wait(prefix: Path, timeout: float = 300, *, marker: str = PENDING) -> bool:
    """Until the environment's job has finished (True) or ``timeout`` passed; with
    ``marker=OWN_PENDING``, until its files are its own (the job's first seconds)."""
    deadline = time.monotonic() + timeout
    while (prefix / "orbit" / marker).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


if __name__ == "__main__":  # the background job (``start``)
    finish(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] or None)
