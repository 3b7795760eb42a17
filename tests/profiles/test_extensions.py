"""orbit ext: real prebuilt extensions from PyPI; broken ones are rolled back."""

import json
import tomllib

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import Server

pytestmark = pytest.mark.integration


def settings(orbit: Orbit, profile: str = "default") -> dict:
    return tomllib.loads((orbit.home / "profiles" / profile / "profile.toml").read_text())


def extensions_report(server: Server) -> dict:
    r = server.get("/orbit/api/extensions")
    assert r.status_code == 200, r.text
    return r.json()


def test_add_and_remove_restart_the_running_server(orbit: Orbit, server_env_seed, tmp_path):
    server_env_seed.plant(orbit.home, bytecode=True)
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    server = orbit.server(project)
    before = json.loads(orbit.run("status", "--json").stdout)
    first_env = extensions_report(server)["prefix"]

    r = orbit.run("ext", "add", "jupyterlab-execute-time")
    assert r.returncode == 0, r.stderr
    assert "added jupyterlab-execute-time" in r.stdout and "restarted" in r.stdout
    [pinned] = settings(orbit)["server"]["extensions"]
    assert pinned.startswith("jupyterlab-execute-time==")  # resolved once, then pinned

    # same address and token: the open JupyterLab page reconnects
    after = json.loads(orbit.run("status", "--json").stdout)
    assert after["url"] == before["url"] and after["pid"] != before["pid"]
    report = extensions_report(server)
    assert "/envs/server/" in report["prefix"] and report["prefix"] != first_env
    [ext] = [e for e in report["extensions"] if e["package"] == "jupyterlab-execute-time"]
    assert ext["chosen"] and ext["requirement"] == pinned
    assert ext["labextensions"] == [{"name": "jupyterlab-execute-time", "seen_by_lab": True}]
    # JupyterLab itself serves it to the browser
    assert "jupyterlab-execute-time" in server.get("/lab").text

    listed = json.loads(orbit.run("ext", "list", "--json").stdout)
    assert [(e["package"], e["status"]) for e in listed["extensions"]] == [
        ("jupyterlab-execute-time", "ok")
    ]

    r = orbit.run("ext", "remove", "jupyterlab-execute-time")
    assert r.returncode == 0, r.stderr
    assert settings(orbit)["server"]["extensions"] == []
    report = extensions_report(server)
    assert "jupyterlab-execute-time" not in {e["package"] for e in report["extensions"]}
    assert report["prefix"] == first_env  # content-addressed: the first environment again
    r = orbit.run("ext", "remove", "jupyterlab-execute-time")
    assert r.returncode == 2 and "not one of profile 'default'" in r.stderr


def test_a_broken_extension_never_breaks_a_working_setup(
    orbit: Orbit, server_env_seed, tmp_path, wheels
):
    server_env_seed.plant(orbit.home, bytecode=True)
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    server = orbit.server(project)
    toml = orbit.home / "profiles" / "default" / "profile.toml"
    before = toml.read_bytes()
    state = json.loads(orbit.run("status", "--json").stdout)

    # a server extension that raises when the server loads it
    r = orbit.run("ext", "add", str(wheels["broken"]))
    assert r.returncode == 1
    assert "orbit-broken-ext breaks the server" in r.stderr
    assert "RuntimeError: this extension is broken on purpose" in r.stderr
    assert "rolled back" in r.stderr and "server-trial.log" in r.stderr

    # one that cannot be installed beside the profile's JupyterLab
    r = orbit.run("ext", "add", str(wheels["uninstallable"]))
    assert r.returncode == 1
    assert "could not install orbit-old-ext" in r.stderr and "Nothing changed" in r.stderr

    # a package that is no extension at all
    r = orbit.run("ext", "add", str(wheels["plain"]))
    assert r.returncode == 2 and "provides no JupyterLab extension" in r.stderr

    # a name PyPI does not have
    r = orbit.run("ext", "add", "orbit-test-no-such-extension-xyz")
    assert r.returncode == 1 and "orbit-test-no-such-extension-xyz" in r.stderr

    # nothing changed: the settings, the running server, its environment
    assert toml.read_bytes() == before
    now = json.loads(orbit.run("status", "--json").stdout)
    assert now["pid"] == state["pid"]
    assert server.get("/api/status").status_code == 200
    assert not any(e["chosen"] for e in extensions_report(server)["extensions"])


def test_extensions_need_a_profile_that_can_be_read(orbit: Orbit):
    prof = orbit.home / "profiles" / "default"
    prof.mkdir(parents=True)
    (prof / "profile.toml").write_text("[server]\npython = 3\n")
    r = orbit.run("ext", "add", "jupyterlab-execute-time")
    assert r.returncode == 2
    assert "profile.toml" in r.stderr and "server.python" in r.stderr


def test_search_on_pypi(orbit: Orbit):
    r = orbit.run("ext", "search", "execute", "time", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["pypi"] == "ok"
    [hit] = data["hits"]
    assert hit["name"] == "jupyterlab-execute-time" and hit["prebuilt"] is True
    r = orbit.run("ext", "search", "requests")
    assert "not marked as a prebuilt JupyterLab extension" in r.stdout
