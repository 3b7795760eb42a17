"""orbit envs and orbit gc with real environments, kernels, a server and container images:
what is listed, and that nothing a running kernel or server uses is ever removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.diskuse import parse_age
from jupyter_orbit.errors import InputError
from tests.conftest import Orbit, make_notebook

# stamped: the terminal and the server resolve them alike
PLAIN = {"orbit": {"as_of": "2025-06-01"}}
IDNA = {"orbit": {"as_of": "2025-06-01", "packages": {"pypi": ["idna"]}}}


def envs(orbit: Orbit) -> list[dict]:
    r = orbit.run("envs", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["items"]


def by_notebook(items: list[dict], name: str) -> dict:
    [found] = [i for i in items if any(n.endswith(name) for n in i["notebooks"])]
    return found


def gc(orbit: Orbit, *args: str) -> list[dict]:
    r = orbit.run("gc", "--older-than", "0", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["removed"]


def test_ages():
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("2w") == timedelta(days=14)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("0") == timedelta(0)
    with pytest.raises(InputError, match="not an age"):
        parse_age("soon")


def _server_spare(orbit: Orbit, env_id: str) -> Path:
    """The folder of the clone of ``env_id`` the running server keeps (or is making)."""
    for _ in range(600):
        status = json.loads(orbit.run("status", "--json").stdout)
        folder = status["spares"].get(env_id, {}).get("folder")
        if folder and Path(folder).is_dir():  # the copy has begun
            return Path(folder)
        time.sleep(0.1)
    raise AssertionError(f"no spare of {env_id}: {status['spares']}")


def test_envs_lists_and_gc_keeps_what_kernels_and_servers_use(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "proj"
    a = make_notebook(project / "a.ipynb", "print('a')", metadata=PLAIN)
    b = make_notebook(project / "b.ipynb", "import idna", metadata=IDNA)
    for nb in (a, b):
        r = orbit.run("run", str(nb), "--yes")
        assert r.returncode == 0, r.stderr
    leftover = orbit.home / "envs" / "local" / ".build-0123abcd-deadbeef"
    (leftover / "lib").mkdir(parents=True)
    (leftover / "lib" / "half.py").write_text("x = 1\n")

    items = envs(orbit)
    env_a, env_b = by_notebook(items, "a.ipynb"), by_notebook(items, "b.ipynb")
    assert env_a["kind"] == env_b["kind"] == "environment" and env_a["env_id"] != env_b["env_id"]
    assert env_b["size"] > env_b["frees"] > 0  # most of it is hardlinked from uv's cache
    assert env_b["last_used"] and env_b["notebooks"] == [str(b)]
    assert [i["kind"] for i in items].count("leftover") == 1
    assert any(i["kind"] == "server environment" for i in items)
    text = orbit.run("envs").stdout
    assert "used by b.ipynb" in text and "`orbit gc` may free" in text

    # a kernel of a.ipynb in the profile's server; a kernel of b's environment in `orbit run`
    server = orbit.server(project)
    server.new_session("a.ipynb")
    sleeper = make_notebook(project / "sleep.ipynb", "import time; time.sleep(300)", metadata=IDNA)
    run = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "run", str(sleeper), "--no-server", "--yes"],
        env=orbit.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_process_in(env_b["location"])
        items = {i["env_id"]: i for i in envs(orbit)}
        assert items[env_a["env_id"]]["in_use"].startswith("a kernel of profile default's server")
        assert items[env_b["env_id"]]["in_use"].startswith("process ")
        server_envs = [i for i in items.values() if i["kind"] == "server environment"]
        assert all(i["in_use"] for i in server_envs)  # the running server's, the profile's

        # the clone the server keeps ready for hot add (server/spares.py) is kept, not a leftover
        spare = _server_spare(orbit, env_a["env_id"])
        kept = next(i for i in envs(orbit) if i["location"] == str(spare))
        assert kept["kind"] == "hot add clone" and "kept ready for hot add" in kept["in_use"]
        assert "hot add clone" in orbit.run("envs").stdout

        planned = gc(orbit, "--dry-run")
        assert [r["kind"] for r in planned] == ["leftover"] and leftover.exists()
        assert planned[0]["env_id"] == "0123abcd"
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=60)
    _wait_for_no_process_in(env_b["location"])

    removed = gc(orbit)
    assert {(r["kind"], r["env_id"]) for r in removed} == {
        ("leftover", "0123abcd"),
        ("environment", env_b["env_id"]),
    }
    assert all(r["error"] is None for r in removed)
    assert not Path(env_b["location"]).exists() and not leftover.exists()
    assert Path(env_a["location"]).exists()
    left = {i["env_id"] for i in envs(orbit)}
    assert env_a["env_id"] in left and env_b["env_id"] not in left
    usage = json.loads((orbit.home / "usage.json").read_text())
    assert f"local:{env_b['env_id']}" not in usage


def test_images_of_this_home_are_listed_and_removed_when_no_container_uses_them(
    bare_orbit: Orbit, docker_client: Any, tmp_path: Path
):
    from jupyter_orbit.engines.dockerfile import LABEL_ENV

    orbit = bare_orbit
    env_id = uuid.uuid4().hex[:20]
    context = orbit.home / "envs" / "docker" / env_id
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM scratch\n")
    tag = f"orbit-kernel:{env_id}"
    for n in (1, 2):  # the second build takes the tag: the first is a replaced image
        docker_client.images.build(
            fileobj=_dockerfile(f'FROM scratch\nLABEL {LABEL_ENV}="{env_id}" n="{n}"\n'),
            tag=tag,
            rm=True,
        )
    container = docker_client.containers.create(tag, command=["none"])
    try:
        items = [i for i in envs(orbit) if i["env_id"] == env_id]
        kinds = sorted((i["kind"], bool(i["in_use"])) for i in items)
        assert kinds == [("image", True), ("leftover", False)]
        removed = gc(orbit)
        assert [(r["kind"], r["env_id"]) for r in removed] == [("leftover", env_id)]
        assert docker_client.images.get(tag)  # a container uses it
    finally:
        container.remove()
    removed = gc(orbit)
    assert [(r["kind"], r["location"]) for r in removed] == [("image", tag)]
    assert not docker_client.images.list(filters={"label": f"{LABEL_ENV}={env_id}"})
    assert not context.exists()


def _dockerfile(text: str) -> Any:
    import io

    return io.BytesIO(text.encode())


def _processes_in(location: str) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (location + "/").encode() in (proc / "cmdline").read_bytes():
                out.append(proc.name)
        except OSError:
            continue
    return out


def _wait_for_process_in(location: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not _processes_in(location):
        assert time.monotonic() < deadline, "no kernel started"
        time.sleep(0.2)


def _wait_for_no_process_in(location: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _processes_in(location):
        assert time.monotonic() < deadline, "the kernel did not stop"
        time.sleep(0.2)
