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
