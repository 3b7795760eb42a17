"""The launcher's API with a real server: cards, launch jobs streamed as server-sent events,
every recipe's smoke snippet in a real kernel, and bad input refused with nothing created."""

import asyncio
import json
import os
import re
from pathlib import Path

import httpx
import pytest

from jupyter_orbit.kernels.recipes import recipe_classes
from tests.conftest import Orbit, snapshot
from tests.support.kernelws import KernelWS, Server
from tests.support.launcher import Browserish, configure

RECIPES = recipe_classes()

pytestmark = pytest.mark.integration


def needs_system(recipe_name: str) -> None:
    """R and Octave come from Debian: CI installs them; elsewhere their absence skips."""
    missing = RECIPES[recipe_name]().missing()
    if missing and not os.environ.get("CI"):
        pytest.skip(f"{recipe_name} needs {', '.join(m.what for m in missing)}")


@pytest.fixture(scope="module")
def recipes_server(tmp_path_factory):
    o = Orbit(tmp_path_factory.mktemp("recipes") / "orbit-home", tmp_path_factory.mktemp("home"))
    root = tmp_path_factory.mktemp("menu")
    configure(o.home, prewarm_kernels=[])
    info = o.up(root)
    yield o, root, info
    o.down_all()


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_runs_its_smoke_snippet(recipes_server, name):
    needs_system(name)
    orbit, root, info = recipes_server
    recipe = RECIPES[name]()
    web = Browserish(info["url"], info["token"])
    created = web.launch(name)
    assert created.status_code == 201, created.text
    events = web.events(created.json()["job"])
    done = events[-1]
    assert done["done"] and done["ok"], events
    assert (root / done["path"]).is_file()
    nb = json.loads((root / done["path"]).read_text())
    assert nb["metadata"]["kernelspec"]["name"] == recipe.kernelspec_name
    orbit_meta = nb["metadata"]["orbit"]
    assert orbit_meta.pop("kernel") == name
    assert set(orbit_meta) <= {"as_of", "schema"}  # stamped when its environment was built

    server = Server(info["url"], info["token"])

    async def smoke():
        async with KernelWS(server, done["kernel_id"]) as k:
            await k.kernel_info(timeout=300)
            return await k.execute(recipe.smoke_code, timeout=300, linger=5)

    reply = asyncio.run(smoke())
    assert reply.status == "ok", reply
    shown = reply.stdout.strip() or "".join(r.get("text/plain", "") for r in reply.results)
    assert re.sub(r"\x1b\[[0-9;]*m", "", shown).strip() == recipe.smoke_output  # no colours
    status = json.loads(orbit.run("status", "--json").stdout)
    [kernel] = [k for k in status["kernels"] if k["id"] == done["kernel_id"]]
    assert kernel["recipe"] == name and kernel["env_id"] == done["env_id"]
    assert Path(kernel["location"]).parent == orbit.home / "envs" / "local"
    # nothing was registered into the user's own Jupyter folders (deno jupyter --install would)
    assert not (orbit.user_home / ".local" / "share" / "jupyter").exists()


def test_launch_streams_real_steps_and_hands_over_a_warm_kernel(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "work"
    (root / "notes").mkdir(parents=True)
    info = orbit.up(root)
    web = Browserish(info["url"], info["token"])
    page = web.page
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert "<script src=" in page.text and "<script>" not in page.text  # no inline script

    state = web.state()
    cards = {k["name"]: k for k in state["kernels"]}
    assert list(cards) == list(RECIPES) and state["root_dir"] == str(root)
    assert web.client.get(cards["python"]["logo_url"]).headers["content-type"] == "image/svg+xml"
    # the Python card's environment is built and warmed when the server starts
    web.wait_warm(cards["python"]["env_id"])
    assert web.state()["kernels"][0]["warm"] is True

    created = web.launch("python", folder="notes")
    assert created.status_code == 201
    assert created.json()["path"] == "notes/Untitled.ipynb"
    events = web.events(created.json()["job"])
    steps = [e["step"] for e in events if "step" in e]
    assert steps == ["notebook", "resolve", "reuse", "kernel"]
    done = events[-1]
    assert done["ok"] and done["prewarmed"] is True
    assert done["url"] == "lab/tree/notes/Untitled.ipynb"
    # JupyterLab finds the running kernel through the session of the notebook's path
    sessions = Server(info["url"], info["token"]).get("/api/sessions").json()
    assert [s["kernel"]["id"] for s in sessions if s["path"] == "notes/Untitled.ipynb"] == [
        done["kernel_id"]
    ]

    # a second launch in the same folder gets its own notebook
    again = web.launch("python", folder="notes")
    assert again.json()["path"] == "notes/Untitled1.ipynb"
    assert web.events(again.json()["job"])[-1]["ok"]
    recent = web.state()["recent"]
    assert recent[0]["path"] == str(root) and recent[0]["notebook_rel"] == "notes/Untitled1.ipynb"

    # a kernel whose environment must be built: the build's own steps arrive
    built = web.launch("bash")
    events = web.events(built.json()["job"])
    steps = [e["step"] for e in events if "step" in e]
    assert steps[:2] == ["notebook", "resolve"] and {"as-of", "venv", "install"} <= set(steps)
    assert steps[-2:] == ["commit", "kernel"] and events[-1]["ok"]


def test_bad_launches_change_nothing(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "work"
    root.mkdir()
    (root / "keep.txt").write_text("x")
    configure(orbit.home, prewarm_kernels=[])
    info = orbit.up(root)
    web = Browserish(info["url"], info["token"])
    before = snapshot(root)
    assert web.launch("cobol").status_code == 400
    assert web.launch("python", folder="../").status_code == 400
    assert web.launch("python", folder="keep.txt").status_code == 400
    assert web.launch("python", packages={"pypi": "numpy"}).status_code == 400
    # without the XSRF header (a cross-site form post), or without the token: refused
    r = web.client.post("orbit/api/launcher/launch", json={"kernel": "python", "folder": ""})
    assert r.status_code == 403
    anonymous = httpx.post(info["url"] + "orbit/api/launcher/launch", json={"kernel": "python"})
    assert anonymous.status_code == 403
    assert httpx.get(info["url"] + "orbit/launcher", follow_redirects=False).status_code in (
        302,
        403,
    )
    assert snapshot(root) == before


def test_packages_chosen_on_the_launcher_go_into_the_notebook(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "work"
    root.mkdir()
    configure(orbit.home, prewarm_kernels=[])
    info = orbit.up(root)
    web = Browserish(info["url"], info["token"])
    created = web.launch("python", packages={"pypi": ["six==1.16.0"]})
    events = web.events(created.json()["job"])
    assert events[-1]["ok"], events
    nb = json.loads((root / "Untitled.ipynb").read_text())
    # as the launcher wrote it when it created it: building the kernel added nothing (no stamp)
    assert nb["metadata"]["orbit"] == {"kernel": "python", "packages": {"pypi": ["six==1.16.0"]}}
    server = Server(info["url"], info["token"])

    async def check():
        async with KernelWS(server, events[-1]["kernel_id"]) as k:
            await k.kernel_info()
            return await k.execute("import six; print(six.__version__)")

    assert asyncio.run(check()).stdout.strip() == "1.16.0"


def test_kernels_command(orbit: Orbit, tmp_path: Path):
    r = orbit.run("kernels", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    states = {k["name"]: k for k in data["kernels"]}
    assert list(states) == list(RECIPES)
    assert states["python"]["state"] == "installable"
    assert states["python"]["installs"] == ["ipykernel (PyPI)"]
    for name in ("r", "octave"):
        if RECIPES[name]().missing():
            assert states[name]["state"] == "needs-system" and "apt-get" in states[name]["command"]
        else:
            assert states[name]["state"] in ("installable", "ready")
    human = orbit.run("kernels", str(tmp_path))
    assert "xpython" in human.stdout and "installable" in human.stdout
    bad = orbit.run("kernels", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "not a folder" in bad.stderr


def test_orbit_alone_starts_the_server_and_opens_the_menu(orbit: Orbit, tmp_path: Path):
    import signal
    import subprocess
    import sys

    root = tmp_path / "here"
    root.mkdir()
    configure(orbit.home, prewarm_kernels=[])
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit"],
        env={**orbit.env, "ORBIT_BROWSER": "none"},
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Orbit's kernel menu (profile default) at http://127.0.0.1:")
        assert line.rstrip().endswith("/orbit/launcher")
        said = [proc.stdout.readline() for _ in range(4)]
        assert "/orbit/login?code=" in said[1]  # a one-time login link, not the token
        assert "(readable by you alone)" in said[2]
        assert "stop with Ctrl-C" in said[3]  # it keeps the server it started
        status = json.loads(orbit.run("status", "--json").stdout)
        assert status["running"] and status["root_dir"] == str(root)
        assert status.get("token") is None
        # a second `orbit` reuses the server and returns at once
        again = subprocess.run(
            [sys.executable, "-m", "jupyter_orbit", "launcher", "--no-browser"],
            env=orbit.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 0 and line.split(" at ")[1] in again.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert json.loads(orbit.run("status", "--json").stdout)["running"] is False
    assert "Usage: orbit" in orbit.run("--help").stdout


def test_the_menu_shows_the_kernels_the_profile_offers(orbit: Orbit, tmp_path: Path):
    from dataclasses import replace

    from jupyter_orbit import settings as st
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.profiles.store import ProfileStore

    root = tmp_path / "work"
    root.mkdir()
    configure(orbit.home, prewarm_kernels=[])
    prof = Paths(orbit.home).profile("default")
    settings = ProfileStore(Paths(orbit.home)).settings("default", create=True)
    offered = replace(settings.defaults, kernels=("python", "bash"))
    st.write(prof.settings_file, replace(settings, defaults=offered))
    info = orbit.up(root)
    web = Browserish(info["url"], info["token"])
    assert [k["name"] for k in web.state()["kernels"]] == ["python", "bash"]
    before = snapshot(root)
    refused = web.launch("r")
    assert refused.status_code == 400 and "does not offer r" in refused.text
    assert snapshot(root) == before  # no notebook made for it

    # `orbit config` edits apply to the menu's next answer, no restart
    st.write(prof.settings_file, settings)
    assert len(web.state()["kernels"]) == len(RECIPES)


def test_the_menu_offers_the_profiles_hosts_and_new_notebooks_name_theirs(
    orbit: Orbit, tmp_path: Path
):
    """A remote host of the profile is a place to run kernels on the menu; choosing it writes
    ``orbit.engine`` into the new notebook, and a host that does not answer says so."""
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.url import parse_ssh_url

    root = tmp_path / "work"
    root.mkdir()
    configure(orbit.home, prewarm_kernels=[])
    # Nothing listens on port 1 of this machine's loopback: a host that refuses at once.
    store = HostStore(orbit.home / "profiles" / "default")
    store.add(RemoteHost("gone", parse_ssh_url("ssh://nobody@127.0.0.1:1")))
    info = orbit.up(root)
    web = Browserish(info["url"], info["token"])
    state = web.state()
    offered = {e["id"]: e["label"] for e in state["engines"]}
    assert next(iter(offered)) == "local" == state["engine"]
    assert {"docker", "ssh:gone"} <= set(offered) and "127.0.0.1:1" in offered["ssh:gone"]
    # The cards as they would be on that host: it cannot be reached, and each card says why.
    remote = web.state(engine="ssh:gone")
    assert remote["engine"] == "ssh:gone"
    python = next(k for k in remote["kernels"] if k["name"] == "python")
    assert python["state"] == "error" and "cannot reach the remote host gone" in python["detail"]
    assert web.client.get("orbit/api/launcher", params={"engine": "ssh:other"}).status_code == 400
    before = snapshot(root)
    assert web.launch("python", engine="ssh:other").status_code == 400
    assert web.launch("python", engine="local:x").status_code == 400
    assert snapshot(root) == before

    created = web.launch("python", engine="ssh:gone")
    assert created.status_code == 201
    events = web.events(created.json()["job"])
    problem = next(e["problem"] for e in events if "problem" in e)
    assert "cannot reach the remote host gone" in problem["error"] and problem["hint"]
    nb = json.loads((root / "Untitled.ipynb").read_text())
    assert nb["metadata"]["orbit"]["engine"] == "ssh:gone"
    # The notebook's kernel is the one that explains, cell by cell.
    server = Server(info["url"], info["token"])

    async def run() -> str:
        async with KernelWS(server, events[-1]["kernel_id"]) as k:
            await k.kernel_info()
            return (await k.execute("print(1)")).stderr

    said = asyncio.run(run())
    assert "cannot reach the remote host gone" in said and "Fix:" in said
    # The default engine's notebooks name none (they stay portable).
    plain = web.launch("python", engine="local")
    assert web.events(plain.json()["job"])[-1]["ok"]
    assert "engine" not in json.loads((root / "Untitled1.ipynb").read_text())["metadata"]["orbit"]
