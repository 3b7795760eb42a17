"""orbit open (what a double-clicked notebook runs): the running server, never a duplicate."""

import json
import subprocess
import sys

import pytest

from tests.conftest import Orbit, make_notebook

pytestmark = pytest.mark.integration


def opened_page(stdout: str) -> tuple[str, str]:
    """The server and page of the one-time login link `orbit open --no-browser` prints."""
    from urllib.parse import parse_qs, urlsplit

    [link] = [ln.strip() for ln in stdout.splitlines() if "/orbit/login?" in ln]
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}/", parse_qs(parts.query)["next"][0]


def servers(orbit: Orbit, profile: str = "default") -> list:
    runtime = orbit.home / "profiles" / profile / "jupyter" / "runtime"
    return sorted(runtime.glob("jpserver-*.json"))


def test_opens_in_the_running_server(orbit: Orbit, tmp_path):
    project = orbit.user_home / "project"
    nb = make_notebook(project / "sub dir" / "nb.ipynb", "1")
    info = orbit.up(project)
    r = orbit.run("open", str(nb), "--no-browser")
    assert r.returncode == 0, r.stderr
    assert opened_page(r.stdout) == (info["url"], "lab/tree/sub%20dir/nb.ipynb")
    assert info["token"] not in r.stdout
    assert len(servers(orbit)) == 1
    assert json.loads(orbit.run("status", "--json").stdout)["pid"] == info["pid"]

    outside = make_notebook(tmp_path / "elsewhere" / "x.ipynb", "1")
    r = orbit.run("open", str(outside), "--no-browser")
    assert r.returncode == 1
    assert "outside the folder" in r.stderr and "orbit down" in r.stderr
    assert len(servers(orbit)) == 1


def test_starts_one_server_for_notebooks_opened_together(orbit: Orbit):
    a = make_notebook(orbit.user_home / "a" / "one.ipynb", "1")
    b = make_notebook(orbit.user_home / "b" / "two.ipynb", "1")
    orbit.started.add("default")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jupyter_orbit", "open", str(nb), "--no-browser"],
            env=orbit.env,
            cwd=orbit.user_home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for nb in (a, b)
    ]
    out = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), out
    (one, page_a), (two, page_b) = (opened_page(o) for o, _ in out)
    assert page_a == "lab/tree/a/one.ipynb" and page_b == "lab/tree/b/two.ipynb"
    assert one == two  # one server
    assert len(servers(orbit)) == 1
    status = json.loads(orbit.run("status", "--json").stdout)
    assert status["root_dir"] == str(orbit.user_home)  # later notebooks in home reuse it
    # opening is not trusting: the home folder did not become a trusted project
    assert str(orbit.user_home) not in orbit.run("trust").stdout
