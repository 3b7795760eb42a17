"""A project's own tool configuration does not configure the tools Orbit runs for it.

The project holds every file that would point uv, pip, npm or conda elsewhere (``uv.toml``,
``pyproject.toml``'s ``[tool.uv]``, ``pip.conf``, ``.npmrc``, ``.condarc``), each at a trap
that counts requests; the notebook's environment is built from the real registries all the
same and the trap is never asked. Orbit's own helper processes, started from the project
folder, do not import the project's modules either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook


class Trap:
    """An HTTP server that answers 404 to everything and remembers what it was asked."""

    def __init__(self) -> None:
        trap = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                trap.requests.append(self.path)
                self.send_error(404)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap():
    t = Trap()
    yield t
    t.close()


def hostile_project(root: Path, trap: str) -> None:
    """Every project-local tool configuration Orbit's tools could read, pointing at ``trap``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "uv.toml").write_text(f'index-url = "{trap}/simple"\nno-build-isolation = true\n')
    (root / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\ndependencies = ["six"]\n\n'
        f'[tool.uv]\nindex-url = "{trap}/simple"\n\n'
        f'[[tool.uv.index]]\nname = "trap"\nurl = "{trap}/simple"\ndefault = true\n'
    )
    (root / "pip.conf").write_text(f"[global]\nindex-url = {trap}/simple\n")
    (root / ".npmrc").write_text(f"registry={trap}/\n")
    (root / ".condarc").write_text(f"channels:\n  - {trap}/conda\n")


@pytest.mark.integration
def test_project_tool_configs_do_not_apply_to_builds(orbit: Orbit, tmp_path: Path, trap: Trap):
    root = tmp_path / "proj"
    hostile_project(root, trap.url)
    nb = make_notebook(
        root / "nb.ipynb",
        "import six\nprint(six.__version__)",
        metadata={
            "orbit": {"as_of": "2025-06-01", "packages": {"npm": ["left-pad@1.3.0"]}},
        },
    )
    r = orbit.run("env", str(nb), "--json", cwd=root)  # Orbit started from the project folder
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert any("[tool.uv] is not applied" in n for n in info["notes"]), info["notes"]
    assert info["source_changing"] == []  # nothing of [tool.uv] became an index option
    r = orbit.run("run", str(nb), "--yes", "--no-server", cwd=root)
    assert r.returncode == 0, r.stderr
    version = r.stdout.split()[0]
    assert version.startswith("1."), r.stdout  # six from PyPI (no trap, no 99.0)
    env = json.loads(orbit.run("env", str(nb), "--json").stdout)["location"]
    pad = Path(env) / "npm" / "node_modules" / "left-pad" / "package.json"
    assert json.loads(pad.read_text())["version"] == "1.3.0"  # from the npm registry
    assert trap.requests == []


@pytest.mark.integration
def test_orbit_helpers_started_in_a_project_do_not_import_its_modules(tmp_path: Path):
    """The conda worker runs `python -m` as a child: with the project as its working folder,
    a project `json.py` would have run inside it."""
    pytest.importorskip("rattler")
    from tests.support.conda_channel import build_conda_package, index_channel

    channel = tmp_path / "channel"
    build_conda_package(channel, "orbit-bz-tool", "1.0")
    index_channel(channel)
    root = tmp_path / "proj"
    root.mkdir()
    canary = tmp_path / "canary"
    for module in ("json.py", "rattler.py", "sitecustomize.py"):
        (root / module).write_text(f"open({str(canary)!r}, 'a').write({module!r})\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")},
        "ORBIT_HOME": str(tmp_path / "orbit-home"),
        "ORBIT_CONDA_CHANNELS": str(channel),
    }
    orbit = Path(sys.executable).parent / "orbit"  # the console script, as a user runs it
    r = subprocess.run(
        [str(orbit), "search", "orbit-bz", "--in", "conda", "--json"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "orbit-bz-tool" in r.stdout
    assert not canary.exists(), canary.read_text()
