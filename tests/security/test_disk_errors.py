"""A disk that fills, is read-only, or may not be written: every command that writes says so,
naming the file and what to do, never "internal error", and leaves the file as it was.

The disks are real: a small tmpfs (``mount -t tmpfs -o size=…``) filled to the last byte, the
same remounted read-only, and a folder Orbit may not write (Orbit run without the capability
that lets root ignore permissions).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_notebook, snapshot
from tests.support.pypi_index import LocalIndex

pytestmark = pytest.mark.integration

ORBIT = [sys.executable, "-m", "jupyter_orbit"]


class Disk:
    """A real tmpfs of ``size`` at ``path``."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True)
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")

    def fill(self) -> None:
        """Write a filler file until the disk is full (unbuffered, to the last byte)."""
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for chunk in (65536, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = Disk(tmp_path / "disk", "512k")
    yield d
    d.unmount()


def orbit(home: Path, *args: str, drop_root: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env["ORBIT_HOME"] = str(home)
    cmd = [*ORBIT, *args]
    if drop_root:  # root without the capabilities that ignore file permissions
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def said_plainly(r: subprocess.CompletedProcess[str], what: str, path: Path) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert f"error: {what}" in r.stderr or what in r.stderr, r.stderr
    assert str(path) in r.stderr, r.stderr
    assert "hint: " in r.stderr


def no_leftovers(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*.tmp")], list(folder.rglob(".*.tmp"))


def _notebook(folder: Path) -> Path:
    return make_notebook(folder / "nb.ipynb", "1", metadata={"orbit": {"as_of": "2025-06-01"}})


def test_stamp_on_a_full_disk(tmp_path: Path, disk: Disk):
    nb = make_notebook(disk.path / "nb.ipynb", "1")
    disk.fill()
    before = nb.read_bytes()
    r = orbit(tmp_path / "home", "stamp", str(nb), "2025-06-01")
    said_plainly(r, "no space left on the device holding", nb)
    assert nb.read_bytes() == before
    no_leftovers(disk.path)


def test_export_to_a_full_disk(tmp_path: Path, disk: Disk):
    nb = _notebook(tmp_path / "proj")
    (tmp_path / "proj" / "requirements.txt").write_text("six\n")
    disk.fill()
    r = orbit(tmp_path / "home", "export", str(nb), "--to", "requirements", str(disk.path / "out"))
    said_plainly(r, "no space left", disk.path / "out" / "requirements.txt")
    assert not (disk.path / "out" / "requirements.txt").exists()
    no_leftovers(disk.path)


def test_profile_export_and_import_on_a_full_disk(tmp_path: Path, disk: Disk):
    home = tmp_path / "home"
    r = orbit(home, "profile", "create", "teaching", "--no-build")
    assert r.returncode == 0, r.stderr
    exported = tmp_path / "teaching.orbit-profile.toml"
    assert orbit(home, "profile", "export", "teaching", "-o", str(exported)).returncode == 0
    disk.fill()
    r = orbit(home, "profile", "export", "teaching", "-o", str(disk.path / "t.toml"))
    said_plainly(r, "no space left", disk.path / "t.toml")
    # ORBIT_HOME itself on the full disk: the import stages the profile there
    full_home = disk.path / "home"
    r = orbit(full_home, "profile", "import", str(exported), "--no-build")
    assert r.returncode == 1 and "no space left on the device holding" in r.stderr, r.stderr
    assert str(full_home) in r.stderr and "internal error" not in r.stderr
    assert not (full_home / "profiles" / "teaching").exists()  # whole or absent
    no_leftovers(disk.path)


def test_a_build_that_fills_the_disk(tmp_path: Path, disk: Disk):
    """ORBIT_HOME on a disk too small for the environment: uv fails mid-install."""
    nb = _notebook(tmp_path / "proj")
    (tmp_path / "proj" / "requirements.txt").write_text("six\n")
    home = disk.path / "home"
    r = orbit(home, "run", str(nb), "--yes")
    said_plainly(r, "no space left on the device holding", home / "envs" / "local")
    assert "resolving as of" not in r.stderr  # not blamed on the date
    assert not list((home / "envs" / "local").glob("[0-9a-f]*"))  # nothing half-built kept
    assert not list((home / "envs" / "local").glob(".build-*"))


@pytest.fixture
def index(tmp_path: Path) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path / "index") as idx:
        idx.add("orbit-disk-a", "1.0")
        yield idx


def test_add_and_lock_on_a_full_disk(tmp_path: Path, disk: Disk, index: LocalIndex):
    project = disk.path / "proj"
    nb = _notebook(project)
    reqs = project / "requirements.txt"
    reqs.write_text("six\n")
    disk.fill()
    before = snapshot(project)
    home = tmp_path / "home"
    os.environ["UV_INDEX"] = index.url  # uv asks the local index before PyPI
    try:
        r = orbit(home, "add", "orbit-disk-a", "--to", str(nb), "--file", str(reqs))
        said_plainly(r, "no space left", reqs)
        r = orbit(home, "lock", str(nb))
        said_plainly(r, "no space left", nb)
    finally:
        del os.environ["UV_INDEX"]
    assert snapshot(project) == before
    no_leftovers(disk.path)


def test_a_read_only_disk(tmp_path: Path, disk: Disk):
    nb = make_notebook(disk.path / "nb.ipynb", "1")
    home = tmp_path / "home"
    assert orbit(home, "profile", "create", "teaching", "--no-build").returncode == 0
    disk.read_only()
    before = nb.read_bytes()
    r = orbit(home, "stamp", str(nb), "2025-06-01")
    said_plainly(r, "is on a read-only file system", nb)
    r = orbit(home, "profile", "export", "teaching", "-o", str(disk.path / "t.toml"))
    said_plainly(r, "is on a read-only file system", disk.path / "t.toml")
    assert nb.read_bytes() == before


def test_a_folder_orbit_may_not_write(tmp_path: Path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run Orbit without its override of permissions")
    project = tmp_path / "proj"
    nb = make_notebook(project / "nb.ipynb", "1")
    before = nb.read_bytes()
    project.chmod(0o555)
    nb.chmod(0o444)
    home = tmp_path / "home"
    home.mkdir()
    try:
        r = orbit(home, "stamp", str(nb), "2025-06-01", drop_root=True)
        said_plainly(r, "permission denied", nb)
        assert f"ls -ld {project}" in r.stderr
        # a profile home Orbit may not write: the import says so, names the folder
        ro_home = tmp_path / "ro-home"
        ro_home.mkdir(mode=0o555)
        exported = tmp_path / "p.orbit-profile.toml"
        assert orbit(home, "profile", "create", "p", "--no-build").returncode == 0
        assert orbit(home, "profile", "export", "p", "-o", str(exported)).returncode == 0
        r = orbit(ro_home, "profile", "import", str(exported), "--no-build", drop_root=True)
        said_plainly(r, "permission denied", ro_home)
    finally:
        project.chmod(0o755)
    assert nb.read_bytes() == before
    assert json.loads(before)  # still the notebook it was
