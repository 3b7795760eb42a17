"""Bytecode made in the background once an environment is in place: the kernel does not wait
for it, and what a kernel wrote meanwhile is never shared."""

from __future__ import annotations

import json
import py_compile
import sys
from pathlib import Path

import pytest

from jupyter_orbit.engines import bytecode
from tests.conftest import Orbit, make_notebook

TAG = sys.implementation.cache_tag


def _fake_env(root: Path) -> Path:
    """A folder laid out as a venv of this Python, with one module in site-packages."""
    env = root / "env"
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = env / "lib" / minor / "site-packages"
    site.mkdir(parents=True)
    (site / "mod.py").write_text("VALUE = 42\n")
    (env / "bin").mkdir()
    (env / "bin" / "python").symlink_to(sys.executable)
    (env / "orbit").mkdir()
    return env


def test_the_job_compiles_stores_and_clears_its_mark(tmp_path: Path):
    env = _fake_env(tmp_path)
    bytecode.schedule(env / "orbit")
    assert bytecode.pending(env)
    proc = bytecode.start(env, tmp_path / "store", TAG)
    assert proc is not None and proc.wait(timeout=120) == 0
    assert not bytecode.pending(env) and bytecode.wait(env, timeout=0)
    pyc = next((env / "lib").rglob(f"__pycache__/mod.{TAG}.pyc"))
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b11  # checked hash: shareable
    assert pyc.stat().st_nlink == 3  # the environment's, the store's object, its source key


def test_one_job_at_a_time_and_a_dead_one_is_replaced(tmp_path: Path):
    """The job's process holds the environment's job lock: while it lives no second job
    starts; a mark with no live job behind it (the job died) gets a new one."""
    import fcntl
    import os

    env = _fake_env(tmp_path)
    bytecode.schedule(env / "orbit")
    fd = os.open(env / "orbit" / bytecode.JOB_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a job running
    try:
        assert bytecode.start(env, tmp_path / "store", TAG) is None
        assert bytecode.pending(env)
    finally:
        os.close(fd)  # it died without clearing its marks
    proc = bytecode.start(env, tmp_path / "store", TAG)
    assert proc is not None
    # the started job holds the lock from its start, before it has even run a line
    assert bytecode.start(env, tmp_path / "store", TAG) is None
    assert proc.wait(timeout=120) == 0 and not bytecode.pending(env)
    fd = os.open(env / "orbit" / bytecode.JOB_LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the job's process
    finally:
        os.close(fd)


def test_nothing_starts_without_a_mark(tmp_path: Path):
    env = _fake_env(tmp_path)
    assert bytecode.start(env, tmp_path / "store", TAG) is None


def test_a_pyc_a_kernel_wrote_is_not_stored(tmp_path: Path):
    env = _fake_env(tmp_path)
    site = next((env / "lib").glob("*/site-packages"))
    store = bytecode.BytecodeStore(tmp_path / "store", TAG)
    pyc = site / "__pycache__" / f"mod.{TAG}.pyc"
    # what a kernel's import writes: timestamp-based, valid for this copy of the source only
    py_compile.compile(str(site / "mod.py"), cfile=str(pyc))
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0
    store.keep([site])
    assert pyc.stat().st_nlink == 1 and not list((tmp_path / "store").rglob(f"{TAG}-*"))


def test_a_pyc_cut_short_by_a_full_disk_is_neither_stored_nor_left(tmp_path: Path):
    env = _fake_env(tmp_path)
    site = next((env / "lib").glob("*/site-packages"))
    store = bytecode.BytecodeStore(tmp_path / "store", TAG)
    pyc = site / "__pycache__" / f"mod.{TAG}.pyc"
    py_compile.compile(
        str(site / "mod.py"),
        cfile=str(pyc),
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    whole = pyc.read_bytes()
    pyc.write_bytes(whole[: len(whole) - 20])  # what a short raw write leaves
    store.keep([site])
    assert not pyc.exists()  # Python compiles the source on import instead of failing
    assert not list((tmp_path / "store").rglob(f"{TAG}-*"))
    pyc.write_bytes(whole)  # the same file whole is stored
    store.keep([site])
    assert pyc.stat().st_nlink == 3


def _stored(tmp_path: Path, files: dict[str, str]) -> tuple[bytecode.BytecodeStore, Path]:
    """A store that knows ``files`` (paths inside site-packages), compiled as the job does, and
    a fresh environment's site-packages holding the same sources, without bytecode."""
    store = bytecode.BytecodeStore(tmp_path / "store", TAG)
    for name in ("built", "fresh"):
        site = tmp_path / name / "lib" / "site-packages"
        for rel, text in files.items():
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_text(text)
    built = tmp_path / "built" / "lib" / "site-packages"
    for rel in files:
        py_compile.compile(
            str(built / rel),
            cfile=str(store._pyc(built / rel)),
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    store.keep([built])
    return store, tmp_path / "fresh" / "lib" / "site-packages"


def _is_stored(store: bytecode.BytecodeStore, source: Path) -> bool:
    return store._pyc(source).samefile(store._key(source))


def test_known_bytecode_is_linked_and_the_unknown_returned(tmp_path: Path):
    known = {"pkg/__init__.py": "", "pkg/a.py": "A = 1\n", "b.py": "", ".py": "DOT = 1\n"}
    store, site = _stored(tmp_path, known)
    (site / "pkg" / "new.py").write_text("NEW = 1\n")  # the store has never seen it
    (site / "other").mkdir()
    (site / "other" / "c.py").write_text("C = 1\n")
    missing = store.link_known([site])
    assert sorted(missing) == [site / "other" / "c.py", site / "pkg" / "new.py"]
    assert all(_is_stored(store, site / rel) for rel in known)  # ".py" too: a name, no suffix
    assert not (site / "pkg" / "__pycache__" / f"new.{TAG}.pyc").exists()
    assert not (site / "other" / "__pycache__").exists()  # nothing to put there
    assert not list(site.rglob("*.orbit-link"))


def test_a_pyc_a_kernel_wrote_is_replaced_by_a_rename(tmp_path: Path):
    store, site = _stored(tmp_path, {"mod.py": "VALUE = 42\n"})
    pyc = store._pyc(site / "mod.py")
    py_compile.compile(str(site / "mod.py"), cfile=str(pyc))  # timestamp-based, this copy's
    assert pyc.stat().st_nlink == 1
    assert store.link_known([site]) == []
    assert _is_stored(store, site / "mod.py") and not list(site.rglob("*.orbit-link"))


def test_a_pyc_written_between_the_look_and_the_link_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """No .pyc when looked at, one when linked (a kernel's import in between): the link
    falls back to the rename."""
    import os

    store, site = _stored(tmp_path, {"mod.py": "VALUE = 42\n"})
    pyc = store._pyc(site / "mod.py")
    link = os.link

    def kernel_first(src, dst):
        if os.fspath(dst) == str(pyc) and not pyc.exists():
            pyc.write_bytes(b"a kernel's")
        link(src, dst)

    monkeypatch.setattr(os, "link", kernel_first)
    assert store.link_known([site]) == []
    assert _is_stored(store, site / "mod.py") and not list(site.rglob("*.orbit-link"))


def test_each_pycache_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import os

    files = {f"pkg/m{i}.py": f"X = {i}\n" for i in range(5)} | {"pkg/sub/s.py": ""}
    store, site = _stored(tmp_path, files)
    made = []
    mkdir = os.mkdir

    def counted(path, *args, **kwargs):
        made.append(os.fspath(path))
        mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", counted)
    assert store.link_known([site]) == []
    assert sorted(made) == [str(site / "pkg" / "__pycache__"), str(site / "pkg/sub/__pycache__")]
    assert all(_is_stored(store, site / rel) for rel in files)


def test_linked_bytecode_is_not_hashed_again(tmp_path: Path):
    store, site = _stored(tmp_path, {"mod.py": "VALUE = 42\n"})
    assert store.link_known([site]) == []
    # were it hashed, this source would be one the store never saw
    (site / "mod.py").write_text("VALUE = 43\n")
    assert store.link_known([site]) == []


def test_a_failed_link_is_returned_not_raised(tmp_path: Path):
    store, site = _stored(tmp_path, {"pkg/a.py": "A = 1\n", "b.py": ""})
    (site / "pkg" / "__pycache__").write_text("")  # a file where the folder should be
    (site / "gone.py").symlink_to(tmp_path / "nowhere.py")  # a source that cannot be read
    missing = store.link_known([site])
    assert sorted(missing) == [site / "gone.py", site / "pkg" / "a.py"]
    assert _is_stored(store, site / "b.py")


def test_the_sources_are_what_rglob_finds_outside_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "site-packages"
    for rel in (
        "a.py",
        ".py",
        "pkg/b.py",
        "pkg/data.txt",
        "pkg/.hidden/c.py",
        "pkg/tests/t.py",
        "pkg/test/deep/t.py",
        "pkg/testing/d.py",
        "pkg/folder.py/e.py",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    (root / "linked").symlink_to(root / "pkg")  # rglob does not enter a linked folder
    (root / "pkg" / "link.py").symlink_to(root / "a.py")
    (root / "pkg" / "dirlink.py").symlink_to(root / "pkg" / "testing")
    targets = [root, root / "a.py", tmp_path / "missing", root / "pkg" / "tests"]
    found = [str(p) for p in bytecode._sources(targets)]
    expected = [
        str(p)
        for t in targets
        for p in t.rglob("*.py")
        if not bytecode.SKIP.search(str(p)) and not p.is_dir()
    ]
    assert found == expected and len(found) == 7
    monkeypatch.chdir(root)  # relative as pathlib spells them: "pkg/b.py", not "./pkg/b.py"
    assert [str(p) for p in bytecode._sources([Path()])] == [
        str(p) for p in Path().rglob("*.py") if not bytecode.SKIP.search(str(p)) and not p.is_dir()
    ]


@pytest.mark.integration
def test_the_first_cell_runs_while_the_bytecode_job_waits(orbit: Orbit, tmp_path: Path):
    """The store's lock held by someone else keeps the job waiting: the notebook still runs
    (its kernel sees the job pending), and the job finishes once the lock is free."""
    from filelock import FileLock

    code = (
        "import os, sys, six; "
        "print(os.path.exists(os.path.join(sys.prefix, 'orbit', 'bytecode.pending')))"
    )
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        code,
        metadata={"orbit": {"as_of": "2025-06-01", "packages": {"pypi": ["six"]}}},
    )
    store = orbit.home / "envs" / "local" / ".bytecode"
    store.mkdir(parents=True, exist_ok=True)
    with FileLock(store / ".lock"):
        r = orbit.run("run", str(nb), "--yes", "--no-server")
        assert r.returncode == 0 and r.stdout == "True\n", (r.stdout, r.stderr)
        env = Path(json.loads(orbit.run("env", str(nb), "--json").stdout)["location"])
        assert bytecode.pending(env)
    assert bytecode.wait(env, timeout=120)
    pyc = next(env.rglob("site-packages/__pycache__/six.*.pyc"))
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b11
    assert pyc.stat().st_mode & 0o222 == 0  # stored, shared read-only
