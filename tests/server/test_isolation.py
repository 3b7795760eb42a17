"""Profiles are isolated: nothing from ~/.jupyter, ~/.local/share/jupyter, ~/.ipython or the
project folder configures the server or its kernels, and two profiles do not see each other."""

import asyncio
import json
from pathlib import Path

import pytest

from jupyter_orbit.kernels.recipes import recipe_classes
from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration


def plant_leaks(home: Path, project: Path) -> None:
    """Configuration a user or a cloned project might have, that a profile must not pick up."""
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"base_url": "/leak-home/"}})
    )
    (home / ".jupyter" / "jupyter_server_config.py").write_text(
        "c.ServerApp.base_url = '/leak-py/'\n"
    )
    spec = home / ".local" / "share" / "jupyter" / "kernels" / "leaky"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {"argv": ["false", "{connection_file}"], "display_name": "Leaky", "language": "x"}
        )
    )
    startup = home / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-leak.py").write_text("LEAKED_FROM_HOME = True\n")
    (project / "jupyter_server_config.py").write_text("c.ServerApp.base_url = '/leak-project/'\n")
    (project / ".jupyter").mkdir()
    (project / ".jupyter" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"base_url": "/leak-project-json/"}})
    )


async def _globals(server: Server, path: str) -> str:
    session = server.new_session(path)
    async with KernelWS(server, session["kernel"]["id"]) as k:
        await k.kernel_info()
        r = await k.execute("print(sorted(n for n in globals() if 'LEAK' in n))")
        return r.stdout.strip()


def test_nothing_leaks_into_a_profile(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    plant_leaks(orbit.user_home, project)
    server = orbit.server(project)
    assert "/leak" not in server.url
    assert server.get("/api/status").status_code == 200  # served at /, not at a leaked base_url
    specs = server.get("/api/kernelspecs").json()
    # the profile's own, one per kernel recipe; none planted in ~/.local or the project
    assert set(specs["kernelspecs"]) == {c.kernelspec_name for c in recipe_classes().values()}
    spec = specs["kernelspecs"]["python3"]["spec"]
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "orbit-provisioner"
    assert asyncio.run(_globals(server, "nb.ipynb")) == "[]"


def test_two_profiles_side_by_side(orbit: Orbit, tmp_path: Path):
    a_root, b_root = tmp_path / "teaching", tmp_path / "research"
    make_notebook(a_root / "a.ipynb", "1")
    make_notebook(b_root / "b.ipynb", "1")
    a = orbit.server(a_root, profile="teaching")
    b = orbit.server(b_root, profile="research")
    assert a.url != b.url
    setting = "/lab/api/settings/@jupyterlab/apputils-extension:themes"
    import httpx

    put = httpx.put(
        a.url.rstrip("/") + setting,
        headers={**a.headers, "Content-Type": "application/json"},
        content=json.dumps({"raw": '{"theme": "JupyterLab Dark"}'}),
    )
    assert put.status_code == 204, put.text
    assert "JupyterLab Dark" in a.get(setting).json()["raw"]
    assert "JupyterLab Dark" not in b.get(setting).json()["raw"]
    profiles = orbit.home / "profiles"
    assert list((profiles / "teaching").rglob("themes.jupyterlab-settings"))
    assert not list((profiles / "research").rglob("themes.jupyterlab-settings"))
    assert (
        profiles / "teaching" / "jupyter" / "data" / "kernels" / "python3" / "kernel.json"
    ).exists()
    assert (
        profiles / "research" / "jupyter" / "data" / "kernels" / "python3" / "kernel.json"
    ).exists()
    sa = json.loads(orbit.run("status", "--json", "--profile", "teaching").stdout)
    sb = json.loads(orbit.run("status", "--json", "--profile", "research").stdout)
    assert sa["root_dir"] == str(a_root) and sb["root_dir"] == str(b_root)
    assert not (orbit.user_home / ".jupyter").exists()
    assert not (orbit.user_home / ".local" / "share" / "jupyter").exists()


def test_bad_profile_name(orbit: Orbit, tmp_path: Path):
    r = orbit.run("status", "--profile", "../escape")
    assert r.returncode == 2 and "invalid profile name" in r.stderr
    assert not (orbit.home / "escape").exists()
