"""A "teaching" and a "research" profile side by side: different extensions, settings,
kernelspecs and browser data, each server seeing only its own."""

import json

import pytest

from tests.conftest import Orbit, make_notebook

pytestmark = pytest.mark.integration


def test_two_profiles_keep_to_themselves(orbit: Orbit, server_env_seed, tmp_path):
    server_env_seed.plant(orbit.home, bytecode=True)
    for name in ("teaching", "research"):
        r = orbit.run("profile", "create", name)
        assert r.returncode == 0, r.stderr
    steps = [
        ("ext", "add", "jupyterlab-execute-time", "--profile", "teaching"),
        ("ext", "add", "jupyter-resource-usage", "--profile", "research"),
        ("config", "set", "ContentsManager.allow_hidden", "true", "--profile", "research"),
        ("config", "set", "OrbitExtension.pool_per_env", "0", "--profile", "teaching"),
    ]
    for args in steps:
        r = orbit.run(*args)
        assert r.returncode == 0, (args, r.stderr)
    # a kernelspec someone put into one profile by hand
    spec = orbit.home / "profiles" / "teaching" / "jupyter" / "data" / "kernels" / "course"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Course",
                "language": "python",
            }
        )
    )

    roots = {}
    servers = {}
    for name in ("teaching", "research"):
        roots[name] = tmp_path / name
        make_notebook(roots[name] / "nb.ipynb", "1")
        (roots[name] / ".hidden-notes.txt").write_text("x")
        servers[name] = orbit.server(roots[name], profile=name)
    teaching, research = servers["teaching"], servers["research"]

    def chosen(server):
        report = server.get("/orbit/api/extensions").json()
        return {e["package"] for e in report["extensions"] if e["chosen"]}, report["prefix"]

    (t_ext, t_env), (r_ext, r_env) = chosen(teaching), chosen(research)
    assert t_ext == {"jupyterlab-execute-time"} and r_ext == {"jupyter-resource-usage"}
    assert t_env != r_env  # each runs from its own server environment
    # research's server extension is loaded there, and only there
    assert research.get("/api/metrics/v1").status_code == 200
    assert teaching.get("/api/metrics/v1").status_code == 404

    # settings: research shows hidden files, teaching does not
    def names(server):
        return {c["name"] for c in server.get("/api/contents").json()["content"]}

    assert ".hidden-notes.txt" in names(research)
    assert ".hidden-notes.txt" not in names(teaching)
    # kernelspecs: the hand-made one is teaching's alone
    assert "course" in teaching.get("/api/kernelspecs").json()["kernelspecs"]
    assert "course" not in research.get("/api/kernelspecs").json()["kernelspecs"]
    # defaults: teaching keeps no warm kernels, research keeps its one per environment
    t_status = json.loads(orbit.run("status", "--json", "--profile", "teaching").stdout)
    assert t_status["pool"] == []
    shows = {
        n: json.loads(orbit.run("profile", "show", n, "--json").stdout)
        for n in ("teaching", "research")
    }
    assert shows["teaching"]["defaults"]["pool_per_env"] == 0
    assert shows["research"]["defaults"]["pool_per_env"] == 1
    # browser data: a folder inside each profile, never shared
    t_browser, r_browser = (shows[n]["browser_dir"] for n in ("teaching", "research"))
    assert t_browser != r_browser
    assert t_browser.startswith(shows["teaching"]["root"])
    assert r_browser.startswith(shows["research"]["root"])
    # and nothing leaked into the user's own Jupyter folders
    assert not (orbit.user_home / ".jupyter").exists()
    assert not (orbit.user_home / ".local" / "share" / "jupyter").exists()
