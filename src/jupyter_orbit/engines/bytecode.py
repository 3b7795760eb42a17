"""Bytecode compiled once per source file, stored once on disk.

uv hardlinks package files from its cache, so ten environments with pandas hold one copy of its
sources; compiled inside each environment, their ``.pyc`` files would be ten copies, and ten
compilations. Instead:

* we compile with a fixed recorded path (``compileall -s BUILD -p /orbit-env``), which makes the
  bytecode of one source byte-identical in every environment (Python records the real path when
  it loads a ``.pyc``);
* every ``.pyc`` is hardlinked into a content-addressed store, indexed by the source file it was
  compiled from (its inode: the uv cache file that every environment links to);
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


def compile_tree(python: Path, prefix: Path, targets: list[Path], *, to_compile: int) -> None:
    """Compile what is not compiled yet; failures in odd files are ignored, as pip and uv do.

    compileall's process pool costs seconds just to check thousands of files that are already
    compiled, so it is used only when there is real compiling to do.
    """
    existing = [str(t) for t in targets if t.exists()]
    if not existing:
        return
    subprocess.run(
        [
            str(python),
            "-I",  # run from wherever the caller is (a project): import nothing from there
            "-m",
            "compileall",
            "-q",
            "-j",
            "0" if to_compile > 300 else "1",
            "-s",
            str(prefix),
            "-p",
            RECORDED_PREFIX,
            "-x",
            SKIP.pattern,
            *existing,
        ],
        stdin=subprocess.DEVNULL,
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
        st = source.stat()
        return self.by_source / f"{self.tag}-{st.st_dev}-{st.st_ino}-{st.st_mtime_ns}"

    def _pyc(self, source: Path) -> Path:
        return source.parent / "__pycache__" / f"{source.stem}.{self.tag}.pyc"

    def link_known(self, targets: list[Path]) -> int:
        """Put already-compiled bytecode in place; returns how many sources still need it."""
        missing = 0
        for source in _sources(targets):
            key = self._key(source)
            if not key.exists():
                missing += 1
                continue
            pyc = self._pyc(source)
            pyc.parent.mkdir(exist_ok=True)
            try:
                os.link(key, pyc)
            except OSError:
                missing += 1
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
                    os.link(pyc, obj)
                os.link(obj, key)
            except OSError:  # another filesystem, or a race with a concurrent build
                continue


def _sources(targets: list[Path]) -> Iterator[Path]:
    for target in targets:
        if target.exists():
            yield from (p for p in target.rglob("*.py") if not SKIP.search(str(p)))
