"""Shared helpers for the format-reader tests: write realistic files, prove nothing was written."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write ``text`` to ``tmp_path / rel`` (parents created), optionally with CRLF or a BOM."""

    def _write(rel: str, text: str, *, crlf: bool = False, bom: bool = False) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.replace("\n", "\r\n") if crlf else text
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode())
        return path

    return _write


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` with its size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def unchanged() -> Callable[[Path], object]:
    """``with unchanged(folder): …`` fails if anything under ``folder`` was created or changed."""

    @contextmanager
    def _unchanged(root: Path) -> Iterator[None]:
        before = listing(root)
        yield
        assert listing(root) == before

    return _unchanged
