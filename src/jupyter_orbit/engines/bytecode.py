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
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

RECORDED_PREFIX = "/orbit-env"
# Test suites shipped inside packages (pandas/tests alone is half of pandas) are rarely imported;
# Python compiles them on first use, if ever.
SKIP = re.compile(r"[\\/]tests?[\\/]")


def compile_tree(
    python: Path, prefix: Path, targets: list[Path], *, to_compile: int | list[Path]
) -> None:
    """Compile what is not compiled yet (``to_compile``: the sources the store had no
    bytecode for, or a count meaning "the whole of ``targets``"); failures in odd files are
    ignored, as pip and uv do.

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
            "-j",
            "0" if len(names) > 300 or (isinstance(to_compile, int) and to_compile > 300) else "1",
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
        digest = hashlib.sha256()
        digest.update(_in_site(source).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(source.read_bytes())
        return self.by_source / f"{self.tag}-{digest.hexdigest()[:40]}"

    def _pyc(self, source: Path) -> Path:
        return source.parent / "__pycache__" / f"{source.stem}.{self.tag}.pyc"

    def link_known(self, targets: list[Path]) -> list[Path]:
        """Put already-compiled bytecode in place; returns the sources that still need it."""
        missing = []
        for source in _sources(targets):
            key = self._key(source)
            if not key.exists():
                missing.append(source)
                continue
            pyc = self._pyc(source)
            pyc.parent.mkdir(exist_ok=True)
            try:
                os.link(key, pyc)
            except OSError:
                missing.append(source)
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
            data = pyc.read_bytes()
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


def _in_site(source: Path) -> str:
    """The source's path inside site-packages (the same in every environment)."""
    text = source.as_posix()
    return text.split("/site-packages/", 1)[-1]


def _sources(targets: list[Path]) -> Iterator[Path]:
    for target in targets:
        if target.exists():
            yield from (p for p in target.rglob("*.py") if not SKIP.search(str(p)))
