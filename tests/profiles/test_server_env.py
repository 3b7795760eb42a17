"""The server runs from the profile's server environment, which Orbit builds once and shares."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, Orbit, make_notebook

pytestmark = pytest.mark.integration


def test_built_on_first_up_and_shared_by_profiles_that_match(bare_orbit: Orbit, tmp_path):
    orbit = bare_orbit
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    r = orbit.run("up", str(project), "--detach", "--no-browser")
    assert r.returncode == 0, r.stderr
    orbit.started.add("default")
    assert "server environment JupyterLab" in r.stderr
    info = json.loads(r.stdout)
    envs = list((orbit.home / "envs" / "server").glob("*/orbit-env.json"))
    assert len(envs) == 1
    env = envs[0].parent
    assert not list((orbit.home / "envs" / "local").glob("*/orbit-env.json"))  # kept apart

    # the server process is the environment's interpreter, not the one running the tests
    cmdline = Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].decode() == str(env / "bin" / "python")
    # with Orbit itself installed from this checkout (editable) and JupyterLab pinned
    code = "import jupyter_orbit, jupyterlab; print(jupyter_orbit.__file__); print(jupyterlab.__version__)"
    out = subprocess.run([str(env / "bin" / "python"), "-c", code], capture_output=True, text=True)
    where, version = out.stdout.split()
    assert where.startswith(str(REPO / "src"))
    settings = (orbit.home / "profiles" / "default" / "profile.toml").read_text()
    assert f'jupyterlab = "{version}"' in settings

    # another profile with the same setup builds nothing
    r = orbit.run("profile", "create", "second")
    assert r.returncode == 0, r.stderr
    assert "server environment JupyterLab" not in r.stderr
    assert len(list((orbit.home / "envs" / "server").glob("*/orbit-env.json"))) == 1


def test_server_environments_are_built_by_the_path_that_retries(tmp_path, monkeypatch):
    """The first `orbit up` builds the profile's server environment with the steps kernel
    environments use, so an index that drops a version at install time is retried there too."""
    from jupyter_orbit import uvfailure
    from jupyter_orbit.model import EnvSpec, Requirement
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.profiles.server_env import KIND, ServerEngine
    from jupyter_orbit.progress import NullProgress
    from tests.support.pypi_index import LocalIndex

    monkeypatch.setattr(uvfailure, "BACKOFF", (0.1, 0.1))
    with LocalIndex(tmp_path) as idx:
        idx.add("orbit-flaky", "2.0")
        idx.drop("orbit-flaky", "2.0", when=lambda n: n == 2)  # gone when installing, once
        monkeypatch.setenv("UV_DEFAULT_INDEX", idx.url)
        spec = EnvSpec(
            kernel=KIND,
            python="3.11",
            requirements=(Requirement("pypi", "orbit-flaky", "orbit-flaky==2.0"),),
        )
        engine = ServerEngine(Paths(tmp_path / "home"))
        progress = NullProgress()
        env = engine.realize(engine.plan(spec), progress)
    assert env.location.parent == tmp_path / "home" / "envs" / "server"
    [warning] = progress.warnings
    assert f"{idx.url} did not list orbit-flaky 2.0; trying again" in warning
