"""Hot add through a real server: the package is importable in the very next cell of the
running kernel, the environment the kernel started in is left as it was, and a restart lands
in the grown environment. The API is authenticated like every Jupyter endpoint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from jupyter_orbit.engines import bytecode
from tests.conftest import make_notebook
from tests.support.indexes import IndexedOrbit
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration


def tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


async def only_build_folders(envs: Path, *keep: Path) -> None:
    """Until no clone or build folder but ``keep`` is left (the bound guards against one that
    stays)."""
    for _ in range(300):
        if set(envs.glob(".build-*")) == set(keep):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"left over: {list(envs.glob('.build-*'))}, kept: {keep}")


async def ready_spare(orbit_idx: IndexedOrbit, env_id: str) -> Path:
    """The folder of the spare the server keeps for ``env_id``, once it is ready."""
    for _ in range(600):
        status = json.loads(orbit_idx.run("status", "--json").stdout)
        spare = status["spares"].get(env_id, {})
        if spare.get("state") == "ready":
            return Path(spare["folder"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no spare of {env_id}: {status['spares']}")


def test_hot_add_in_a_running_kernel(orbit_idx: IndexedOrbit, tmp_path: Path):
    root = tmp_path / "proj"
    nb = make_notebook(
        root / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["orbit-bz-beta"]}}}
    )
    server = orbit_idx.server(root)
    session = server.new_session("nb.ipynb")
    kid = session["kernel"]["id"]

    async def scenario() -> None:
        async with KernelWS(server, kid) as k:
            await k.kernel_info(timeout=600)
            r = await k.execute("import orbit_bz_beta; x = 41")
            assert r.status == "ok", r.error
            r = await k.execute("import orbit_bz_alpha")
            assert r.status == "error" and r.error["ename"] == "ModuleNotFoundError"

            status = json.loads(orbit_idx.run("status", "--json").stdout)
            old_env = next(k for k in status["kernels"] if k["id"] == kid)["env_id"]
            envs = orbit_idx.home / "envs" / "local"
            old_dir = envs / old_env
            # its bytecode is made in the background after the build: the files are final once
            # that job is done (and the server's clone is made only then)
            assert await asyncio.to_thread(bytecode.wait, old_dir)
            before = tree(old_dir)

            # the server keeps a clone of the running kernel's environment ready (files of its
            # own), the only build folder there is
            spare = await ready_spare(orbit_idx, old_env)
            assert tree(spare).keys() == before.keys()
            own = {p for p in spare.rglob("*") if p.is_file() and not p.is_symlink()}
            assert own and not {p.stat().st_ino for p in own} & set(before.values())
            await only_build_folders(envs, spare)

            # a refused add gives the spare back: nothing else is left, and it is still kept
            bad = await asyncio.to_thread(orbit_idx.run, "add", "orbit-bz-nope", "--to", str(nb))
            assert bad.returncode == 2, bad.stdout + bad.stderr
            await only_build_folders(envs, spare)
            assert await ready_spare(orbit_idx, old_env) == spare

            add = await asyncio.to_thread(orbit_idx.run, "add", "orbit-bz-alpha", "--to", str(nb))
            assert add.returncode == 0, add.stderr
            # the spare became the grown environment; no other build folder is left
            assert not spare.exists()
            assert not [p for p in envs.glob(".build-*") if old_env in p.name]
            assert "ready now, no restart needed" in add.stdout, add.stdout

            # the very next cell, same kernel, same variables
            r = await k.execute("import orbit_bz_alpha; print(orbit_bz_alpha.__version__, x + 1)")
            assert r.status == "ok", r.error
            assert r.stdout == "1.0 42\n"

            # the environment the kernel started in is untouched (same files, same inodes)
            assert tree(old_dir) == before
            status = json.loads(orbit_idx.run("status", "--json").stdout)
            info = next(k for k in status["kernels"] if k["id"] == kid)
            assert info["grown_from"] == old_env and info["env_id"] != old_env
            env = json.loads(orbit_idx.run("env", str(nb), "--json").stdout)
            assert env["env_id"] == info["env_id"] and env["built"]  # the new spec's id
            record = json.loads(
                (orbit_idx.home / "envs" / "local" / info["env_id"] / "orbit-env.json").read_text()
            )
            assert record["grown_from"] == old_env
            # the grown environment's files are its own: neither can change the other
            beta_old = next(old_dir.rglob("site-packages/orbit_bz_beta/__init__.py"))
            beta_new = next(Path(env["location"]).rglob("site-packages/orbit_bz_beta/__init__.py"))
            assert beta_old.read_bytes() == beta_new.read_bytes()
            assert beta_old.stat().st_ino != beta_new.stat().st_ino
            # the next add will grow from the new environment: its spare is made in turn
            await ready_spare(orbit_idx, info["env_id"])

        # a restart starts in the grown environment
        r = server.post(f"/api/kernels/{kid}/restart")
        assert r.status_code == 200
        async with KernelWS(server, kid) as k:
            await k.kernel_info(timeout=600)
            r = await k.execute(
                "import sys, orbit_bz_alpha; print(orbit_bz_alpha.__version__, sys.prefix)"
            )
            assert r.status == "ok", r.error
            assert r.stdout.split() == ["1.0", env["location"]]
        spare = await ready_spare(orbit_idx, info["env_id"])

        # the kernel's end removes its environment's spare
        assert server.delete(f"/api/kernels/{kid}").status_code == 204
        await only_build_folders(envs)

    asyncio.run(scenario())


def test_api_search_and_packages_are_authenticated(orbit_idx: IndexedOrbit, tmp_path: Path):
    root = tmp_path / "proj"
    nb = make_notebook(root / "nb.ipynb", "1")
    server: Server = orbit_idx.server(root)
    base = server.url.rstrip("/")

    assert httpx.get(f"{base}/orbit/api/search?q=orbit-bz-alpha").status_code == 403
    body = {"action": "add", "target": "nb.ipynb", "packages": ["orbit-bz-alpha"]}
    assert httpx.post(f"{base}/orbit/api/packages", json=body).status_code == 403

    # a browser session (login cookie) without the XSRF token is refused too
    with httpx.Client(timeout=120) as browser:
        browser.get(f"{base}/lab?token={server.token}")
        assert browser.cookies, "the token login should set a cookie"
        r = browser.post(f"{base}/orbit/api/packages", json=body)
        assert r.status_code == 403
        r = browser.get(f"{base}/orbit/api/search", params={"q": "orbit-bz-alpha", "in": "pypi"})
        assert r.status_code == 200

    r = server.get(
        "/orbit/api/search", params={"q": "orbit-bz-alpha", "for": "nb.ipynb", "in": "pypi,apt"}
    )
    assert r.status_code == 200
    out = r.json()
    assert out["ecosystems"][0] == "pypi"
    assert out["results"][0]["name"] == "orbit-bz-alpha"

    before = nb.read_bytes()
    r = server.post("/orbit/api/packages", json={**body, "packages": ["orbit-bz-nope"]})
    assert r.status_code == 400 and "no package named" in r.json()["error"]
    r = server.post("/orbit/api/packages", json={**body, "target": "../elsewhere"})
    assert r.status_code == 400 and "outside" in r.json()["error"]
    assert nb.read_bytes() == before

    r = server.post("/orbit/api/packages", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["files"] == [str(nb)] and out["kernels"] == []  # no kernel runs for it
    assert json.loads(nb.read_text())["metadata"]["orbit"]["packages"]["pypi"] == ["orbit-bz-alpha"]
