"""Fixtures for the bazaar: a local package index with a few small projects, and the real
``orbit`` CLI pointed at it (``UV_INDEX``: searched before PyPI, which still serves
ipykernel to kernel environments)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Orbit, _orbit
from tests.support.pypi_index import LocalIndex


def fill(index: LocalIndex) -> LocalIndex:
    index.add("orbit-bz-alpha", "1.0", summary="Alpha: the first test package")
    index.add("orbit-bz-beta", "1.0", summary="Beta helps alpha")
    index.add("orbit-bz-beta", "2.0", summary="Beta helps alpha")
    index.add(
        "orbit-bz-gamma", "1.0", requires=["orbit-bz-beta<2"], summary="Gamma needs an old beta"
    )
    index.add("orbit-bz-alphabet", "0.1", summary="Letters")
    index.add("orbit-bz-tools", "3.0", summary="Tools for alpha users")
    return index


@pytest.fixture
def index(tmp_path: Path) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path) as idx:
        yield fill(idx)


@dataclass
class IndexedOrbit(Orbit):
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra}


def indexed(base: Path, index: LocalIndex, *, default: bool = False) -> IndexedOrbit:
    """An Orbit whose uv (and searches) see ``index``: as an extra index before PyPI, or as
    the only (default) one."""
    o = _orbit(base)
    key = "UV_DEFAULT_INDEX" if default else "UV_INDEX"
    return IndexedOrbit(o.home, o.user_home, extra={key: index.url})


@pytest.fixture
def orbit_idx(tmp_path: Path, index: LocalIndex, server_env_seed) -> Iterator[IndexedOrbit]:
    o = indexed(tmp_path, index)
    server_env_seed.plant(o.home)  # the default server environment, built once per session
    yield o
    o.down_all()
