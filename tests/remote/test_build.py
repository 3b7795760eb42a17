"""Environments built on the remote: atomically (build folder, rename, marker last), once for
concurrent requests, with failures that say what uv said."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jupyter_orbit.remote.build import BuildRequest, build_script


def test_the_build_script_renames_into_place_and_writes_the_marker_last():
    script = build_script(
        envs="/home/me/.cache/orbit-remote/envs",
        env_id="abc123",
        stage="/home/me/.cache/orbit-remote/envs/.stage-abc123-x",
        uv="/home/me/.cache/orbit-remote/bin/uv",
        python="3.11",
        sync_args=["--no-index", "--find-links", "http://mirror/a b/"],
    )
    lines = script.splitlines()
    assert lines[0] == "set -eu"
    assert "flock 9" in script  # concurrent builds of one id wait for each other
    order = [
        next(i for i, ln in enumerate(lines) if needle in ln)
        for needle in (
            'venv --relocatable --quiet --python 3.11 "$build"',
            "pip sync",
            'mv "$build" "$final"',
            'mv "$final/.orbit-env.json.tmp" "$final/orbit-env.json"',
        )
    ]
    assert order == sorted(order)
    assert "--find-links 'http://mirror/a b/'" in script  # quoted for the remote shell
    assert "UV_NO_CONFIG=1" in script


@pytest.fixture
def mirror(lab, tmp_path: Path) -> str:
    from tests.support.pypi_index import build_wheel

    wheels = tmp_path / "wheels"
    build_wheel(wheels, "orbit-remote-demo", "1.0", {"orbit_remote_demo/__init__.py": "X = 1\n"})
    return lab.machine.serve(wheels)


def _build(lab, req: BuildRequest, n: int = 1):
    from jupyter_orbit.remote import bootstrap, build
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.uvcli import uv_bin

    async def one():
        async with lab.session() as s:
            uv = await bootstrap.ensure_uv(s, Path(uv_bin()))
            return await build.build(s, uv.path, req)

    async def many():
        return await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)

    return run_sync(many())


@pytest.mark.integration
def test_concurrent_builds_of_one_environment_build_it_once(lab, mirror):
    import secrets

    env_id = secrets.token_hex(10)
    req = BuildRequest(
        env_id=env_id,
        python="3.11",
        lock="orbit-remote-demo==1.0\n",
        index_args=("--no-index", "--find-links", mirror),
        record={"engine": "ssh:lab"},
    )
    results = _build(lab, req, n=3)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert len({r.prefix for r in results}) == 1
    env = results[0]
    prefix = Path(env.prefix)
    assert env.record["engine"] == "ssh:lab" and env.record["env_id"] == env_id
    assert (prefix / "orbit" / "requirements.lock.txt").read_text() == "orbit-remote-demo==1.0\n"
    r = lab.machine.sees(f"{env.python} -c 'import orbit_remote_demo as m; print(m.X)'")
    assert r.stdout.strip() == "1", r.stderr
    assert not list(prefix.parent.glob(f".build-{env_id}-*"))
    assert not list(prefix.parent.glob(f".stage-{env_id}-*"))


@pytest.mark.integration
def test_an_unfinished_environment_is_rebuilt_and_a_failed_build_leaves_nothing(lab, mirror):
    import secrets

    from jupyter_orbit.remote.errors import RemoteCommandFailed

    env_id = secrets.token_hex(10)
    envs = lab.machine.home / ".cache" / "orbit-remote" / "envs"
    # What a build killed after its rename but before its marker leaves behind.
    lab.machine.sees(f"mkdir -p {envs}/{env_id}/bin && touch {envs}/{env_id}/bin/python")
    bad = BuildRequest(
        env_id=env_id,
        python="3.11",
        lock="orbit-remote-missing==9.9\n",
        index_args=("--no-index", "--find-links", mirror),
    )
    [err] = _build(lab, bad)
    assert isinstance(err, RemoteCommandFailed)
    assert "orbit-remote-missing" in err.message and "building the environment" in err.message
    assert not (envs / env_id).exists()  # the unmarked leftover went, nothing new was kept
    assert not list(envs.glob(f".build-{env_id}-*")) and not list(envs.glob(f".stage-{env_id}-*"))
    good = BuildRequest(
        env_id=env_id,
        python="3.11",
        lock="orbit-remote-demo==1.0\n",
        index_args=("--no-index", "--find-links", mirror),
    )
    [env] = _build(lab, good)
    assert (Path(env.prefix) / "orbit-env.json").is_file()
