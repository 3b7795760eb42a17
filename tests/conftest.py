"""Shared fixtures: an isolated ORBIT_HOME and HOME per test, real uv, real servers."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import platformdirs
import pytest

from tests.support.kernelws import Server
from tests.support.server_env import ServerEnvSeed

REPO = Path(__file__).resolve().parents[1]
# Fixtures shared by several test folders: real Docker, a real browser, local package indexes.
pytest_plugins = (
    "tests.support.docker",
    "tests.support.browser",
    "tests.support.indexes",
    "tests.support.sshhost",
    "tests.support.gateway",
    "tests.support.devices",
    "tests.support.verdaccio",
    "tests.support.offline_lab",
    "tests.support.registry",
)
# One uv cache for every test (and the user's own uv): packages are downloaded once.
UV_CACHE = os.environ.get("UV_CACHE_DIR") or platformdirs.user_cache_dir("uv")


# Fixtures that start real things (a server, uv builds, Docker, a browser, sshd): a test that
# uses any of them is an integration test, whether or not it says so itself.
INTEGRATION_FIXTURES = frozenset(
    {
        "server_env_seed",
        "orbit",
        "bare_orbit",
        "shared_orbit",
        "orbit_idx",
        "chromium",
        "docker_client",
        "docker_base",
        "no_kernel_containers",
        "ssh_host",
        "fresh_ssh_host",
        "lab",
        "enterprise_gateway",
        "board",
        "device_kernel",
        "verdaccio_tool",
        "shipped",
        "registry",
    }
)


# The tests run in three processes (pytest-xdist, ``--dist loadgroup``): those that use the one
# Docker engine run in one of them, in turn, since they count and remove its containers and
# images and share one base image built once.
DOCKER_FIXTURES = frozenset({"docker_client", "docker_base", "no_kernel_containers"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if INTEGRATION_FIXTURES & used:
            item.add_marker(pytest.mark.integration)
        if DOCKER_FIXTURES & used:
            item.add_marker(pytest.mark.xdist_group("docker"))
        elif "verdaccio_tool" in used or "npm_bundle" in used:  # verdaccio prepared once
            item.add_marker(pytest.mark.xdist_group("verdaccio"))
        # Slow tests run in a CI step of their own (``ORBIT_SLOW_TESTS=1 pytest -m slow``).
        if item.get_closest_marker("slow") and os.environ.get("ORBIT_SLOW_TESTS") != "1":
            item.add_marker(pytest.mark.skip(reason="slow: ORBIT_SLOW_TESTS=1 runs it; CI does"))
    _name_groups(config, items)


def _name_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each test's ``xdist_group`` into its id (``...::test@docker``), by which xdist's
    ``loadgroup`` sends a group's tests to one process. xdist 3.8 sets it through an attribute
    pytest 9.2 no longer reads (``_nodeid``), so groups were spread over every process."""
    if not getattr(config.option, "loadgroup", False):
        return  # not a worker of a ``--dist loadgroup`` run
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest, where xdist's own suffix works
        return
    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(names))}")


@pytest.fixture(autouse=True)
def _unit_tests_ask_no_index(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """A test not marked integration asks no package index: uv answers from its cache or not
    at all (fitting a notebook to its date is then left undecided, quickly)."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setenv("UV_OFFLINE", "1")


@dataclass
class Orbit:
    """Runs the real `orbit` command line against one ORBIT_HOME and a fake HOME."""

    home: Path
    user_home: Path
    started: set[str] = field(default_factory=set)
    # The clock (``ORBIT_NOW``): what "now" is for undated notebooks and the kernel packages'
    # cool-down. None: the real time. A fixed date makes a test independent of releases
    # published after it (every date Orbit resolves as of is then at or before it).
    now: str | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ORBIT_", "JUPYTER_")) and k not in ("IPYTHONDIR",)
        }
        if "ORBIT_DEBUG" in os.environ:  # tracebacks of internal errors, when asked for
            env["ORBIT_DEBUG"] = os.environ["ORBIT_DEBUG"]
        env.update(
            ORBIT_HOME=str(self.home),
            HOME=str(self.user_home),
            UV_CACHE_DIR=UV_CACHE,
            XDG_CONFIG_HOME=str(self.user_home / ".config"),
            XDG_DATA_HOME=str(self.user_home / ".local" / "share"),
            XDG_CACHE_HOME=str(self.user_home / ".cache"),
        )
        if self.now:
            env["ORBIT_NOW"] = self.now
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def run(
        self, *args: str, input: str | None = None, timeout: float = 480, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``orbit *args``; one that does not end within ``timeout`` (under pytest-timeout's
        600 s) fails the test with where it waited: its threads' stacks (faulthandler, on
        SIGABRT) and the processes on the machine."""
        argv = [sys.executable, "-m", "jupyter_orbit", *args]
        tree = None
        with subprocess.Popen(
            argv,
            env={**self.env, "PYTHONFAULTHANDLER": "1"},
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd or self.user_home,
        ) as proc:
            try:
                out, err = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                tree = "\n".join(line[:300] for line in _processes().splitlines())
                proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
                try:
                    out, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, err = proc.communicate()
        if tree is not None:
            pytest.fail(
                f"`orbit {' '.join(args)}` did not end within {timeout:.0f} s\n"
                f"--- its stderr, then its stacks:\n{err}\n--- its stdout:\n{out}\n"
                f"--- the processes when it timed out:\n{tree}",
                pytrace=False,
            )
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def up(self, root: Path, *extra: str, profile: str = "default") -> dict[str, Any]:
        r = self.run("up", str(root), "--detach", "--no-browser", "--profile", profile, *extra)
        assert r.returncode == 0, r.stderr
        self.started.add(profile)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def server(self, root: Path, profile: str = "default") -> Server:
        info = self.up(root, profile=profile)
        return Server(info["url"], info["token"])

    def down_all(self) -> None:
        for profile in self.started:
            self.run("down", "--profile", profile, timeout=60)
        self.started.clear()


def _processes() -> str:
    """The machine's user processes (not the kernel's threads), as a tree."""
    ps = ["ps", "ww", "--ppid", "2", "-p", "2", "--deselect", "--forest"]
    fields = "pid,ppid,pgid,stat,etime,args"
    return subprocess.run([*ps, "-o", fields], capture_output=True, text=True).stdout


# uv's answers to the date fit's questions (``era``), shared by every home of one test run: a
# question about the past has one answer, and keys name the indexes and the interpreter asked.
ERA_ANSWERS = Path(tempfile.mkdtemp(prefix="orbit-tests-era-"))
atexit.register(shutil.rmtree, ERA_ANSWERS, True)


def _orbit(base: Path) -> Orbit:
    home = base / "orbit-home"
    user_home = base / "home"
    user_home.mkdir(parents=True, exist_ok=True)
    (home / "cache").mkdir(parents=True, exist_ok=True)
    if not (home / "cache" / "era").exists():
        (home / "cache" / "era").symlink_to(ERA_ANSWERS, target_is_directory=True)
    return Orbit(home, user_home)


@pytest.fixture(scope="session")
def server_env_seed(tmp_path_factory: pytest.TempPathFactory) -> ServerEnvSeed:
    """The default profile server environment, built once and linked into fresh homes."""
    base = tmp_path_factory.mktemp("server-env-seed")
    return ServerEnvSeed(base, _orbit(base).env)


@pytest.fixture
def orbit(
    tmp_path: Path, server_env_seed: ServerEnvSeed, request: pytest.FixtureRequest
) -> Iterator[Orbit]:
    """A fresh ORBIT_HOME: nothing trusted, no kernel environment built (the default server
    environment is linked in). When the test failed, the ends of its servers' logs are shown."""
    o = _orbit(tmp_path)
    server_env_seed.plant(o.home)
    yield o
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for log in sorted(o.home.glob("profiles/*/logs/*.log*")):
            lines = log.read_text(errors="replace").splitlines()[-60:]
            print(f"--- the end of {log.relative_to(o.home)}:", *lines, sep="\n")
    o.down_all()


@pytest.fixture
def bare_orbit(tmp_path: Path) -> Iterator[Orbit]:
    """A fresh ORBIT_HOME with nothing built at all, not even a server environment."""
    o = _orbit(tmp_path)
    yield o
    o.down_all()


@pytest.fixture(scope="session")
def shared_orbit(
    tmp_path_factory: pytest.TempPathFactory, server_env_seed: ServerEnvSeed
) -> Iterator[Orbit]:
    """One ORBIT_HOME for tests that only need environments to exist (built once)."""
    o = _orbit(tmp_path_factory.mktemp("shared"))
    server_env_seed.plant(o.home)
    yield o
    o.down_all()


def make_notebook(
    path: Path, *cells: str, metadata: dict | None = None, markdown: str | None = None
) -> Path:
    nb = nbformat.v4.new_notebook()
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata.update(metadata or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes: to prove nothing changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
