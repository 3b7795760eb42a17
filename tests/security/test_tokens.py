"""Where the server's token may be: a few private (0600) files while the server runs, nowhere
once it is down.

A full session — start, open a notebook (through a redirect page, as a browser would get it),
run cells in its kernel, ``orbit run`` through the server, hot add a package, export the
notebook's requirements and the profile, stop — and then a sweep: the token is in no
process's command line or environment, no log, no file left under Orbit's home, the user's
home or the project, and no export.
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.indexes import IndexedOrbit
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration


def processes_holding(token: str) -> list[str]:
    """Processes whose command line or environment holds ``token``."""
    found = []
    needle = token.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                if needle in (proc / part).read_bytes():
                    found.append(f"{proc.name}/{part}")
            except OSError:
                continue
    return found


def files_holding(token: str, *folders: Path) -> dict[Path, int]:
    """Every file under ``folders`` that holds ``token``, with its permission bits."""
    needle = token.encode()
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                if needle in path.read_bytes():
                    found[path] = stat.S_IMODE(path.stat().st_mode)
            except OSError:
                continue
    return found


def test_runtime_files_are_private_and_few(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    info = orbit.up(project)
    prof = orbit.home / "profiles" / "default"
    runtime = prof / "jupyter" / "runtime"
    assert not list(runtime.glob("jpserver-*-open.html"))  # jupyter_server's token page
    holding = files_holding(info["token"], orbit.home, orbit.user_home, project)
    assert set(holding) == {prof / "server.json", runtime / f"jpserver-{info['pid']}.json"}
    assert set(holding.values()) == {0o600}
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700


def test_token_sweep_after_a_full_session(orbit_idx: IndexedOrbit, tmp_path: Path):
    orbit = orbit_idx
    project = tmp_path / "proj"
    nb = make_notebook(
        project / "nb.ipynb",
        "import orbit_bz_beta; print('beta')",
        metadata={"orbit": {"packages": {"pypi": ["orbit-bz-beta"]}}},
    )
    info = orbit.up(project)
    token = info["token"]
    server = Server(info["url"], token)
    runtime = orbit.home / "profiles" / "default" / "jupyter" / "runtime"

    # open the notebook the way a double-click does, with no browser to hand the page to
    opened = orbit.run("open", str(nb), "--no-browser")
    assert opened.returncode == 0 and token not in opened.stdout + opened.stderr
    # a browser that takes the page and exits at once: the page it was handed holds the token
    orbit.extra["ORBIT_BROWSER"] = "/bin/false"
    handed = orbit.run("open", str(nb))
    page = runtime / "orbit-open.html"
    assert handed.returncode == 0 and "false exited at once" in handed.stderr, handed.stderr
    assert token not in handed.stdout + handed.stderr
    assert stat.S_IMODE(page.stat().st_mode) == 0o600

    async def session() -> None:
        kernel = server.new_session("nb.ipynb")["kernel"]["id"]
        async with KernelWS(server, kernel) as k:
            await k.kernel_info(timeout=600)
            assert (await k.execute("import orbit_bz_beta; print('beta')")).stdout == "beta\n"
            add = await asyncio.to_thread(orbit.run, "add", "orbit-bz-alpha", "--to", str(nb))
            assert add.returncode == 0, add.stderr
            assert token not in add.stdout + add.stderr
            reply = await k.execute("import orbit_bz_alpha; print(orbit_bz_alpha.__version__)")
            assert reply.stdout == "1.0\n", reply.error
            # the kernel itself was not handed the token
            reply = await k.execute("import os, json; print(json.dumps(dict(os.environ)))")
            assert "JPY_SESSION_NAME" in reply.stdout and token not in reply.stdout

    asyncio.run(session())
    ran = orbit.run("run", str(nb))
    assert ran.returncode == 0 and ran.stdout == "beta\n", ran.stderr
    assert processes_holding(token) == [], "the token is in a command line or environment"

    # while it runs, only private runtime files hold it
    during = files_holding(token, orbit.home, orbit.user_home, project)
    loose = {str(p): oct(m) for p, m in during.items() if m != 0o600}
    assert loose == {}, loose
    assert {p.name for p in during} <= {
        "server.json",
        f"jpserver-{info['pid']}.json",
        "orbit-open.html",
    }, during

    exports = tmp_path / "exports"
    r = orbit.run("export", str(nb), "--to", "requirements", str(exports / "req"))
    assert r.returncode == 0, r.stderr
    r = orbit.run("profile", "export", "default", "-o", str(exports / "p.orbit-profile.toml"))
    assert r.returncode == 0, r.stderr
    status = orbit.run("status", "--json")
    assert token not in status.stdout and json.loads(status.stdout)["running"] is True

    down = orbit.run("down")
    assert down.returncode == 0, down.stderr
    orbit.started.clear()
    assert processes_holding(token) == []
    left = files_holding(token, tmp_path)
    assert left == {}, f"files still holding the token: {sorted(map(str, left))}"
    assert not [p.name for p in runtime.iterdir() if p.name.startswith(("jpserver-", "orbit-"))]
    logs = orbit.home / "profiles" / "default" / "logs"
    assert list(logs.glob("*.log")) and files_holding(token, logs) == {}
