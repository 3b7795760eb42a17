"""Services beside the kernels, through the one pipeline: found for a notebook (its own, else
its project's), started with the kernel (local or in a container) and handed to it as
variables; the acceptance test of issue 20 runs PostgreSQL beside a notebook in JupyterLab."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit import beside
from jupyter_orbit.model import Environment
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, Consent, prepare
from tests.conftest import Orbit, make_notebook
from tests.support.docker import remove_services, wait_for
from tests.support.kernelws import KernelWS, Server

NO_ENGINE = "unix:///nonexistent/docker.sock"


class Said:
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.warnings: list[str] = []

    def step(self, action: str, detail: str = "") -> None:
        self.steps.append(f"{action} {detail}")

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "analysis"
    (root / ".git").mkdir(parents=True)
    (root / "compose.yaml").write_text("services:\n  db:\n    image: postgres:15\n")
    make_notebook(root / "notebooks" / "nb.ipynb", "print(1)")
    return root


def test_a_notebook_finds_its_projects_services_or_carries_its_own(project: Path, tmp_path: Path):
    paths = Paths(tmp_path / "home")
    nb = project / "notebooks" / "nb.ipynb"
    res = prepare(nb, Choices(), paths, until="resolve").resolution
    [group] = beside.find(res, paths)
    assert group.source == project / "compose.yaml" and [s.name for s in group.services] == ["db"]
    make_notebook(nb, "1", metadata={"orbit": {"services": {"cache": {"image": "redis:7"}}}})
    res = prepare(nb, Choices(), paths, until="resolve").resolution
    [group] = beside.find(res, paths)
    assert group.source == nb and [s.name for s in group.services] == ["cache"]
    assert group.folder == project  # one project: one set of services
    alone = make_notebook(tmp_path / "elsewhere" / "plain.ipynb", "1")
    assert beside.find(prepare(alone, Choices(), paths, until="resolve").resolution, paths) == []


def test_the_profile_says_whether_services_start_and_stop(tmp_path: Path):
    from jupyter_orbit import settings

    paths = Paths(tmp_path / "home")
    assert beside.policy(paths, Choices()) == "stop"
    profile = paths.profile("default")
    profile.root.mkdir(parents=True)
    settings.write(
        profile.settings_file,
        settings.Settings(
            settings.ServerSettings("3.11", "4.2.0"), settings.Defaults(services="keep")
        ),
    )
    assert 'services = "keep"' in profile.settings_file.read_text()
    assert beside.policy(paths, Choices()) == "keep"
    assert beside.policy(paths, Choices(services="off")) == "off"


def prepared_as_built(nb: Path, paths: Paths, choices: Choices) -> Any:
    out = prepare(nb, choices, paths, until="plan")
    out.environment = Environment("local", "x" * 20, paths.home / "env", Path(sys.executable))
    out.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return out


@pytest.mark.parametrize(
    ("services", "docker_host", "said"),
    [
        ("off", None, "services are off in this profile (defaults.services): not starting db"),
        ("stop", NO_ENGINE, "not starting the services beside the kernel (db): no container"),
    ],
)
def test_without_services_or_an_engine_the_kernel_starts_alone_and_says_so(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    services: str,
    docker_host: str | None,
    said: str,
):
    if docker_host:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
    paths = Paths(tmp_path / "home")
    choices = Choices(consent=Consent(yes=True), services=services)
    out = prepared_as_built(project / "notebooks" / "nb.ipynb", paths, choices)
    argv = list(out.argv)
    progress = Said()
    beside.attach(out, choices, paths, progress)
    assert out.argv == argv and out.services == [] and "PGHOST" not in out.kernel_env
    assert any(w.startswith(said) for w in progress.warnings), progress.warnings


# -- with a real engine, real kernels ------------------------------------------------------

COMPOSE = """\
# Services beside the notebooks of this analysis.
services:
  # A database browser, only with `docker compose --profile tools up adminer`.
  adminer:
    image: adminer:4
    profiles: [tools]
    ports:
      - "127.0.0.1:8081:8080"
"""
WRITE = """\
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute("CREATE TABLE notes (body text)")
    conn.execute("INSERT INTO notes VALUES ('kept across restarts')")
print("written to", os.environ["POSTGRES_HOST"], os.environ["POSTGRES_PORT"])
"""
READ = """\
import psycopg
with psycopg.connect() as conn:  # libpq's own PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
    print(conn.execute("SELECT body FROM notes").fetchall())
"""


def run_in(server: Server, notebook: str, code: str, timeout: float = 900) -> tuple[dict, Any]:
    session = server.new_session(notebook)

    async def go() -> Any:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=timeout)
            return await k.execute(code, timeout=timeout)

    return session, asyncio.run(go())


def services_of(orbit: Orbit) -> list[dict]:
    return json.loads(orbit.run("status", "--json").stdout)["services"]


def test_acceptance_postgres_beside_a_notebook_in_jupyterlab(
    orbit: Orbit, tmp_path: Path, docker_client: Any
):
    project = tmp_path / "analysis"
    (project / ".git").mkdir(parents=True)
    (project / "compose.yaml").write_text(COMPOSE)
    before = (project / "compose.yaml").read_bytes()
    make_notebook(
        project / "sql.ipynb",
        WRITE,
        metadata={"orbit": {"packages": {"pypi": ["psycopg[binary]"]}, "as_of": "2025-06-01"}},
    )
    try:
        r = orbit.run("add", "postgres", "--in", "compose", "--to", str(project))
        assert r.returncode == 0, r.stderr
        assert "added postgres (compose) in" in r.stdout

        server = orbit.server(project)  # `orbit up PATH` trusts PATH
        session, reply = run_in(server, "sql.ipynb", WRITE)
        assert reply.status == "ok", reply.error or reply.stderr
        assert reply.stdout.startswith("written to 127.0.0.1 ")
        [db] = services_of(orbit)
        assert (db["service"], db["status"], db["health"], db["kernels"]) == (
            "postgres",
            "running",
            "healthy",
            1,
        )
        assert all(addr.startswith("127.0.0.1:") for addr in db["ports"].values())
        container = docker_client.containers.get(db["container"])

        # Restart everything: the kernel ends, its service stops after it; both come back.
        assert server.delete(f"/api/sessions/{session['id']}").status_code == 204
        wait_for(
            lambda: container.reload() or container.status == "exited",
            timeout=120,
            what="the service to stop after its last kernel",
        )
        session, reply = run_in(server, "sql.ipynb", READ)
        assert reply.status == "ok", reply.error or reply.stderr
        assert reply.stdout.strip() == "[('kept across restarts',)]"  # the volume kept the data
        assert server.delete(f"/api/sessions/{session['id']}").status_code == 204
        orbit.down_all()

        r = orbit.run("remove", "postgres", "--in", "compose", "--to", str(project))
        assert r.returncode == 0, r.stderr
        assert (project / "compose.yaml").read_bytes() == before
        assert services_of(orbit) == []  # its container is gone …
        [volume] = docker_client.volumes.list(
            filters={"label": f"org.jupyter.orbit.home={orbit.home}"}
        )
        assert volume.name.endswith("_postgres-data")  # … its data is not
    finally:
        orbit.down_all()
        remove_services(docker_client, orbit.home)


def test_a_service_that_fails_shows_its_last_log_lines_in_the_notebook(
    orbit: Orbit, tmp_path: Path, docker_client: Any
):
    project = tmp_path / "broken"
    (project / ".git").mkdir(parents=True)
    (project / "compose.yaml").write_text(
        "services:\n  cache:\n    image: redis:7\n"
        # it runs a moment before it fails: seen running, it is not taken as up
        "    command: [sh, -c, 'sleep 0.3; echo the cache exploded >&2; exit 3']\n"
    )
    make_notebook(project / "nb.ipynb", "print('hi')")
    try:
        server = orbit.server(project)
        _, reply = run_in(server, "nb.ipynb", "print('hi')")
        assert reply.status == "error" and "hi" not in reply.stdout
        assert "Orbit could not prepare this notebook's environment" in reply.stderr
        assert "the service cache (redis:7) stopped (exit code 3)" in reply.stderr
        assert "the cache exploded" in reply.stderr  # its own last words
        assert "docker logs" in reply.stderr
    finally:
        orbit.down_all()
        remove_services(docker_client, orbit.home)


def test_a_notebook_alone_brings_its_service_to_a_kernel_in_a_container(
    orbit: Orbit, tmp_path: Path, docker_client: Any
):
    redis = {
        "image": "redis:7",
        "ports": ["127.0.0.1::6379"],
        "volumes": ["redis-data:/data"],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "1s", "retries": 30},
    }
    code = (
        "import os, socket\n"
        "s = socket.create_connection((os.environ['REDIS_HOST'], int(os.environ['REDIS_PORT'])))\n"
        "s.sendall(b'PING\\r\\n'); print(os.environ['REDIS_URL'], s.recv(16))\n"
    )
    nb = make_notebook(
        tmp_path / "mailed" / "nb.ipynb",
        code,
        metadata={"orbit": {"services": {"cache": redis}, "as_of": "2025-06-01"}},
    )
    try:
        r = orbit.run(
            "run", str(nb), "--engine", "docker", "--yes", "-o", str(tmp_path / "out.ipynb")
        )
        assert r.returncode == 0, r.stderr
        [output] = json.loads((tmp_path / "out.ipynb").read_text())["cells"][0]["outputs"]
        # by its name, on the project's network
        assert "".join(output["text"]) == "redis://cache:6379/0 b'+PONG\\r\\n'\n"
    finally:
        remove_services(docker_client, orbit.home)
