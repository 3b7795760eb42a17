"""``/orbit/api/run`` cannot widen what the server was started with.

``orbit run`` hands a notebook to the running server with a body saying where it runs. A
token holder could put anything there: a working folder outside the server's root (a
container kernel mounts its project folder), a notebook path elsewhere, host access the user
did not give the server. The server decides these as it does for its own kernels; a request
beyond them is refused before any kernel starts, and ``orbit run`` then runs the notebook
itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Orbit, make_notebook
from tests.security.conftest import Raw

pytestmark = pytest.mark.integration


def _body(nb: Path, env_id: str, **changes) -> dict:
    notebook = json.loads(nb.read_text())
    notebook["cells"][0]["source"] = "import os; open('ran-here', 'w').write('x'); print('ok')"
    body = {
        "notebook": notebook,
        "env_id": env_id,
        "engine": "local",
        "kernel": "python",
        "cwd": str(nb.parent),
        "session": str(nb),
        "timeout": 300,
        "imports": [],
    }
    body.update(changes)
    return body


def _run(raw: Raw, body: dict) -> tuple[int, list[dict]]:
    r = httpx.post(raw.base + "/orbit/api/run", json=body, headers=raw.server.headers, timeout=600)
    if r.status_code != 200:
        return r.status_code, [r.json()]
    return 200, [json.loads(line) for line in r.text.splitlines() if line.strip()]


def test_run_requests_stay_within_the_server(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    nb = make_notebook(project / "nb.ipynb", "print('ok')")
    elsewhere = make_notebook(tmp_path / "elsewhere" / "nb.ipynb", "print('ok')")
    home = orbit.user_home
    (project / "homelink").symlink_to(home, target_is_directory=True)
    raw = Raw(orbit.server(project))
    built = orbit.run("run", str(nb))  # builds the environment, runs in the server
    assert built.returncode == 0, built.stderr
    env_id = json.loads(orbit.run("env", str(nb), "--json").stdout)["env_id"]
    kernels_before = raw.request("GET", "/api/kernels").json()

    for changes, why in (
        ({"cwd": str(home), "project_root": str(home)}, "not a folder inside"),
        ({"cwd": str(project / "homelink")}, "not a folder inside"),
        ({"cwd": "."}, "not a folder inside"),
        ({"cwd": "/"}, "not a folder inside"),
        ({"session": str(elsewhere)}, "outside this server's root"),
        ({"session": str(project / "homelink" / "x.ipynb")}, "outside this server's root"),
        ({"allow_host_access": True}, "without --allow-host-access"),
    ):
        status, answer = _run(raw, _body(nb, env_id, **changes))
        assert status == 403, (changes, status, answer)
        assert why in answer[0]["message"], (changes, answer)
    assert not (home / "ran-here").exists() and not (project / "ran-here").exists()
    assert raw.request("GET", "/api/kernels").json() == kernels_before

    # a body's own project root is not the server's business: the run is the server's own
    status, events = _run(raw, _body(nb, env_id, project_root="/"))
    assert status == 200 and events[-1]["ok"] is True, events[-1]
    assert (project / "ran-here").exists()


def test_orbit_run_keeps_to_what_the_server_allows(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    nb = make_notebook(project / "nb.ipynb", "print('inside')")
    outside = make_notebook(tmp_path / "outside" / "nb.ipynb", "print('outside')")
    orbit.up(project)
    log = orbit.home / "profiles" / "default" / "logs" / "server.log"
    # host access the server was not given, and a notebook outside its root: run here
    for args, out in (
        ((str(nb), "--allow-host-access"), "inside\n"),
        ((str(outside),), "outside\n"),
    ):
        r = orbit.run("run", *args)
        assert r.returncode == 0 and r.stdout == out, r.stderr
    assert f"running {nb}" not in log.read_text() and f"running {outside}" not in log.read_text()
    r = orbit.run("run", str(nb))
    assert r.returncode == 0 and r.stdout == "inside\n"
    assert f"Orbit: running {nb} in environment" in log.read_text()
