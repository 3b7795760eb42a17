"""Opening a notebook runs none of its folder's code in the server, and none of its folder's
tool configuration applies.

An untrusted folder (a download, a clone) may hold modules named like the standard library or
like Jupyter's own (``json.py``, ``jupyter_orbit/``, ``tornado.py``), ``sitecustomize.py``,
``.pth`` files, Jupyter server configs, kernelspecs and IPython profiles. Each writes a canary
file when it runs; after ``orbit open`` (what a double-click runs), a session and a cell, no
canary exists, and the server runs from Orbit's runtime folder, not the project.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration


def _canary(folder: Path, name: str) -> str:
    """Python that leaves ``folder/name`` behind when it runs."""
    return f"open({str(folder / name)!r}, 'w').write('ran')\n"


def plant_code(project: Path, canaries: Path) -> list[str]:
    """Modules and startup files that would run if the project were on the server's path."""
    planted = {
        "json.py": "json",
        "sitecustomize.py": "sitecustomize",
        "usercustomize.py": "usercustomize",
        "tornado.py": "tornado",
        "traitlets.py": "traitlets",
        "jupyter_orbit/__init__.py": "jupyter_orbit-package",
        "jupyter_server/__init__.py": "jupyter_server-package",
        "encodings/__init__.py": "encodings-package",
    }
    for rel, name in planted.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(_canary(canaries, name))
    (project / "evil.pth").write_text("import os; " + _canary(canaries, "pth").strip() + "\n")
    return [*planted.values(), "pth"]


def plant_configs(project: Path, canaries: Path) -> list[str]:
    """Jupyter and IPython configuration a project could carry."""
    run = {
        "jupyter_server_config.py": "server-config-py",
        "jupyter_notebook_config.py": "notebook-config-py",
        ".jupyter/jupyter_server_config.py": "dot-jupyter-config-py",
        "etc/jupyter/jupyter_server_config.py": "etc-config-py",
        "ipython_config.py": "ipython-config",
        "ipython_kernel_config.py": "ipython-kernel-config",
        "profile_default/startup/00-evil.py": "ipython-startup-profile",
        ".ipython/profile_default/startup/00-evil.py": "ipython-startup-dot",
        ".ipython/profile_default/ipython_kernel_config.py": "ipython-dot-kernel-config",
    }
    for rel, name in run.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(_canary(canaries, name))
    (project / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"base_url": "/leak/", "ip": "0.0.0.0"}})
    )
    canary = _canary(canaries, "kernelspec").strip()
    for rel in ("kernels/evil", "share/jupyter/kernels/evil", ".local/share/jupyter/kernels/evil"):
        (project / rel).mkdir(parents=True)
        (project / rel / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": ["python3", "-c", canary, "{connection_file}"],
                    "display_name": "Evil",
                    "language": "python",
                }
            )
        )
    return [*run.values(), "kernelspec"]


async def _run_cell(server: Server, path: str, code: str) -> str:
    session = server.new_session(path)
    async with KernelWS(server, session["kernel"]["id"]) as k:
        await k.kernel_info(timeout=600)
        reply = await k.execute(code)
        assert reply.status == "ok", reply.error
        return reply.stdout


def _server_of(orbit: Orbit) -> tuple[Server, dict]:
    state = json.loads((orbit.home / "profiles" / "default" / "server.json").read_text())
    return Server(state["url"], state["token"]), state


def test_opening_a_notebook_runs_nothing_from_its_folder(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "downloaded"  # outside the home folder: the project is the root
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    nb = make_notebook(project / "analysis.ipynb", "print('cell ran')")
    names = plant_code(project, canaries) + plant_configs(project, canaries)

    opened = orbit.run("open", str(nb), "--no-browser")
    orbit.started.add("default")
    assert opened.returncode == 0, opened.stderr
    server, state = _server_of(orbit)
    assert state["root_dir"] == str(project)
    pid = state["pid"]
    # the server's working folder is Orbit's own, and Python was started isolated
    assert Path(f"/proc/{pid}/cwd").resolve() == (
        orbit.home / "profiles" / "default" / "jupyter" / "runtime"
    )
    assert b"-I" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    # nothing of the project configured the server
    assert server.url.endswith(":" + server.url.rsplit(":", 1)[1]) and "/leak" not in server.url
    assert server.get("/api/status").status_code == 200
    specs = server.get("/api/kernelspecs").json()["kernelspecs"]
    assert "evil" not in specs
    # the notebook's kernel starts and runs a cell; still nothing of the project ran
    out = asyncio.run(_run_cell(server, "analysis.ipynb", "print('cell ran')"))
    assert out == "cell ran\n"
    ran = sorted(p.name for p in canaries.iterdir())
    assert ran == [], f"project code ran: {ran} (planted: {names})"


def test_orbit_up_from_inside_the_project_runs_nothing_from_it(orbit: Orbit, tmp_path: Path):
    """The command's own working folder is the project (``cd project && orbit up``)."""
    project = tmp_path / "cloned"
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    make_notebook(project / "nb.ipynb", "1")
    plant_code(project, canaries)
    # the `orbit` command as installed (`python -m` would put the folder first on its own path)
    orbit_command = Path(sys.executable).parent / "orbit"
    r = subprocess.run(
        [str(orbit_command), "up", ".", "--detach", "--no-browser"],
        cwd=project,
        env=orbit.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    orbit.started.add("default")
    assert r.returncode == 0, r.stderr
    server, _ = _server_of(orbit)
    assert server.get("/orbit/api/status").status_code == 200
    assert sorted(p.name for p in canaries.iterdir()) == []
