"""Opening, building and running notebooks in the server writes nothing into the project."""

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Orbit, make_notebook, snapshot
from tests.support.gitrepo import commit_all, git, init
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration

COMMITTED = "2025-06-01T12:00:00Z"  # the git date: what both notebooks resolve as of
PEP723 = '# /// script\n# dependencies = ["six"]\n# ///\nimport six\nprint("six", six.__version__)'


def open_and_run(server: Server, path: str, code: str) -> str:
    """What JupyterLab does: read the notebook, start its session, run a cell."""
    assert server.get(f"/api/contents/{path}").status_code == 200
    session = server.new_session(path)

    async def go() -> str:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=900)
            reply = await k.execute(code)
            assert reply.status == "ok", reply.error
            return reply.stdout

    return asyncio.run(go())


def test_two_notebooks_built_and_run_leave_every_file_as_it_was(orbit: Orbit, tmp_path: Path):
    root = init(tmp_path / "project")
    make_notebook(root / "script" / "analysis.ipynb", PEP723)
    (root / "req" / "requirements.txt").parent.mkdir()
    (root / "req" / "requirements.txt").write_text("six\n")
    make_notebook(root / "req" / "report.ipynb", "import six\nprint('six', six.__version__)")
    commit_all(root, COMMITTED)
    before = snapshot(root)

    server = orbit.server(root)
    first = open_and_run(server, "script/analysis.ipynb", PEP723)
    second = open_and_run(server, "req/report.ipynb", "import six\nprint('six', six.__version__)")
    assert first.startswith("six 1.17") and second == first  # six 1.17.0: newest in June 2025

    assert snapshot(root) == before  # not a byte changed, no file added (no checkpoints either)
    assert git(root, "status", "--porcelain", "--ignored") == ""
    # What was learnt (each notebook's date) is in Orbit's own state, not in the project.
    remembered = [json.loads(p.read_text()) for p in (orbit.home / "notebook-dates").iterdir()]
    assert sorted(Path(r["notebook"]).name for r in remembered) == [
        "analysis.ipynb",
        "report.ipynb",
    ]
    assert {(r["as_of"], r["source"]) for r in remembered} == {("2025-06-01T00:00:00Z", "git")}


def test_orbit_up_examples_hello_leaves_a_clean_checkout_clean(orbit: Orbit, tmp_path: Path):
    checkout = init(tmp_path / "checkout")
    shutil.copytree(REPO / "examples" / "hello", checkout / "examples" / "hello")
    commit_all(checkout, COMMITTED)
    hello = checkout / "examples" / "hello"
    before = snapshot(checkout)
    r = orbit.run("up", str(hello), "--detach", "--no-browser")
    assert r.returncode == 0, r.stderr
    orbit.started.add("default")
    info = json.loads(r.stdout.strip().splitlines()[-1])
    server = Server(info["url"], info["token"])
    cells = [
        "".join(c["source"])
        for c in json.loads((hello / "hello.ipynb").read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    out = open_and_run(server, "hello.ipynb", "\n".join(cells))
    assert "numpy 2." in out and out.strip().endswith("15")
    assert snapshot(checkout) == before
    assert git(checkout, "status", "--porcelain", "--ignored") == ""
