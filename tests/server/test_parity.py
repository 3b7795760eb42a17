"""One pipeline: the same notebook run from the terminal and opened in the server gets the same
consent decision, the same environment id and the same warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import Server
from tests.support.pypi_index import build_wheel

pytestmark = pytest.mark.integration


def server_of(orbit: Orbit) -> tuple[Server, Path]:
    state = json.loads((orbit.home / "profiles" / "default" / "server.json").read_text())
    return Server(state["url"], state["token"]), Path(state["root_dir"])


def kernel_info(server: Server, path: str) -> dict:
    """Open ``path`` as JupyterLab does; what Orbit's provisioner recorded for its kernel."""
    kid = server.new_session(path)["kernel"]["id"]
    status = server.get("/orbit/api/status").json()
    info = next(k for k in status["kernels"] if k["id"] == kid)
    server.delete(f"/api/kernels/{kid}")
    return info


def warnings_printed(stderr: str) -> list[str]:
    return [ln.split("warning: ", 1)[1] for ln in stderr.splitlines() if "warning: " in ln]


def test_terminal_and_server_decide_alike(orbit: Orbit, tmp_path: Path):
    project = orbit.user_home / "proj"
    (project / ".git").mkdir(parents=True)
    # the project's own wheel (a file: reference outside the project is a package source the
    # profile must allow: tests/security/test_indexes.py)
    wheel = build_wheel(project / "wheels", "orbit-parity", "1.0")
    (project / "requirements.txt").write_text(f"orbit-parity @ {wheel.as_uri()}\n")
    nb = make_notebook(project / "nb.ipynb", "import orbit_parity; print(orbit_parity.__version__)")

    # Untrusted: both refuse, with the same words.
    cli = orbit.run("run", str(nb), "--no-server")
    assert cli.returncode == 2, cli.stderr
    opened = orbit.run("open", str(nb), "--no-browser")  # opening trusts nothing
    assert opened.returncode == 0, opened.stderr
    orbit.started.add("default")
    server, root = server_of(orbit)
    path = nb.relative_to(root).as_posix()
    refused = kernel_info(server, path)["error"]
    assert refused["kind"] == "TrustError"
    assert refused["error"] in cli.stderr and "pypi:orbit-parity @ file://" in refused["error"]

    # --yes from the terminal: built, with a warning about where the package comes from.
    cli = orbit.run("run", str(nb), "--no-server", "--yes")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "1.0"
    said = warnings_printed(cli.stderr)
    assert any(f"orbit-parity @ {wheel.as_uri()}" in w for w in said), cli.stderr
    env_id = json.loads(orbit.run("env", str(nb), "--json").stdout)["env_id"]

    # Trusted: the server launches in that very environment and reports the same warnings.
    assert orbit.run("trust", str(project)).returncode == 0
    info = kernel_info(server, path)
    assert "error" not in info, info
    assert info["env_id"] == env_id and info["warnings"] == said
    cli = orbit.run("run", str(nb), "--no-server")  # and the terminal, trusted, builds nothing
    assert cli.returncode == 0 and cli.stdout.strip() == "1.0" and "venv" not in cli.stderr
