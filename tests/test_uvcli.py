"""Every uv call against a local index that misbehaves on purpose: what is retried, and what
each failure is told as."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_orbit import uvfailure
from jupyter_orbit.errors import (
    ConflictError,
    IndexInconsistent,
    IndexUnreachable,
    NoSuchVersion,
    NoWheelError,
    PackageNotFound,
)
from jupyter_orbit.uvcli import run_uv
from tests.support.pypi_index import LocalIndex

pytestmark = pytest.mark.integration  # real uv


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvfailure, "BACKOFF", (0.1, 0.2))


@pytest.fixture
def idx(tmp_path: Path) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path) as index:
        index.add("orbit-a", "1.0")
        index.add("orbit-a", "2.0")
        index.add("orbit-b", "1.0", requires=["orbit-a<2"])
        index.add("orbit-cp", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64")
        index.add("orbit-cp", "1.0", tag="cp313-cp313-manylinux_2_17_x86_64")
        yield index


class Uv:
    def __init__(self, tmp: Path, index_url: str) -> None:
        self.cwd = tmp / "work"
        self.cwd.mkdir()
        self.env = {
            "UV_DEFAULT_INDEX": index_url,
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "UV_HTTP_RETRIES": "0",  # uv's own retries: these tests count Orbit's
        }
        self.notices: list[str] = []

    def compile(self, *requirements: str) -> str:
        return run_uv(
            ["pip", "compile", "-", "--python", sys.executable, "--quiet", "--no-header"],
            cwd=self.cwd,
            env=self.env,
            stdin="\n".join(requirements) + "\n",
            on_retry=self.notices.append,
        )

    def sync(self, *pins: str) -> None:
        venv = self.cwd / "venv"
        if not venv.exists():
            run_uv(["venv", "--quiet", "--python", sys.executable, str(venv)], cwd=self.cwd)
        lock = self.cwd / "lock.txt"
        lock.write_text("\n".join(pins) + "\n")
        run_uv(
            ["pip", "sync", "--python", str(venv / "bin" / "python"), str(lock)],
            cwd=self.cwd,
            env=self.env,
            on_retry=self.notices.append,
        )


@pytest.fixture
def uv(tmp_path: Path, idx: LocalIndex) -> Uv:
    return Uv(tmp_path, idx.url)


def test_a_version_dropped_from_the_first_listing_is_found_on_the_retry(uv: Uv, idx):
    idx.drop("orbit-a", "2.0", when=lambda n: n == 1)
    assert "orbit-a==2.0" in uv.compile("orbit-a==2.0")
    assert idx.page_requests("orbit-a") == 2
    [notice] = uv.notices
    assert f"{idx.url} did not list orbit-a 2.0; trying again" in notice
    assert "fresh index data for orbit-a (try 2 of 2)" in notice


def test_a_version_listed_when_resolving_and_missing_when_installing_is_retried(uv: Uv, idx):
    pins = uv.compile("orbit-a")
    assert "orbit-a==2.0" in pins
    idx.drop("orbit-a", "2.0", when=lambda n: n == 2)  # the install's first look
    uv.sync("orbit-a==2.0")
    assert (uv.cwd / "venv").exists() and len(uv.notices) == 1


def test_an_index_that_never_serves_the_resolved_version_is_named_not_a_conflict(uv: Uv, idx):
    assert "orbit-a==2.0" in uv.compile("orbit-a")
    idx.drop("orbit-a", "2.0", when=lambda n: n > 1)
    with pytest.raises(IndexInconsistent) as caught:
        uv.sync("orbit-a==2.0")
    err = caught.value
    assert err.message.startswith(f"the package index {idx.url} answered inconsistently")
    assert "orbit-a 2.0" in err.message and "(tried 3 times, refreshing its data)" in err.message
    assert "conflict" not in err.message and "loosen" not in (err.hint or "")
    assert len(uv.notices) == 2 and idx.page_requests("orbit-a") == 4


def test_a_file_the_index_lists_but_does_not_serve(uv: Uv, idx):
    idx.withhold("orbit-a", "1.0")
    with pytest.raises(IndexInconsistent, match=r"lists orbit-a 1\.0 but does not serve its file"):
        uv.sync("orbit-a==1.0")
    assert len(uv.notices) == 2


def test_a_stalled_answer_is_retried_then_named_as_unreachable(uv: Uv, idx):
    uv.env["UV_HTTP_TIMEOUT"] = "1"
    idx.stall("orbit-a", 3, when=lambda n: n == 1)
    assert "orbit-a==2.0" in uv.compile("orbit-a")
    assert "timed out" in uv.notices[0]
    idx.stall("orbit-b", 3, when=lambda n: True)
    with pytest.raises(IndexUnreachable) as caught:
        uv.compile("orbit-b")
    assert caught.value.message.startswith(f"could not reach the package index {idx.url}")
    assert "timed out" in caught.value.message and "(tried 2 times" in caught.value.message


def test_a_closed_port_is_a_network_error(tmp_path: Path):
    uv = Uv(tmp_path, "http://127.0.0.1:9/simple/")
    with pytest.raises(IndexUnreachable, match=r"127\.0\.0\.1:9/simple/ \(connection refused\)"):
        uv.compile("orbit-a")


def test_missing_package_conflict_missing_version_and_no_wheel(uv: Uv, idx):
    with pytest.raises(PackageNotFound, match=f"no package named orbit-nope on {idx.url}"):
        uv.compile("orbit-nope")
    assert uv.notices == [] and idx.page_requests("orbit-nope") == 0  # 404s are not counted
    with pytest.raises(ConflictError, match=r"these requirements conflict: orbit-a==2\.0, orbit-b"):
        uv.compile("orbit-a==2.0", "orbit-b")
    assert uv.notices == []
    with pytest.raises(NoSuchVersion, match=r"there is no version 9\.0 of orbit-a"):
        uv.compile("orbit-a==9.0")
    assert len(uv.notices) == 1  # asked once more, with fresh data: a pin may be a typo
    with pytest.raises(NoWheelError, match=r"it has wheels for Python 3\.12, 3\.13"):
        uv.compile("orbit-cp")
