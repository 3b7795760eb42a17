"""The gateway engine against a real Jupyter Enterprise Gateway on loopback: one Orbit server,
one notebook's kernel on the gateway and another's on this machine; interrupts, shutdown and
the gateway's token kept out of command lines; gateways nobody added are never contacted."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.gateway import EnterpriseGateway
from tests.support.kernelws import KernelWS, Server

CODE = "import sys, os; print(sys.prefix); print(os.environ.get('KERNEL_USERNAME', '-'))"
# One test process runs this module (pytest-xdist): one gateway, its environment built once.
pytestmark = pytest.mark.xdist_group("gateway")


def _add(orbit: Orbit, gateway: EnterpriseGateway, name: str = "site") -> None:
    r = orbit.run("remote", "add", name, gateway.url, "--token-stdin", input=gateway.token + "\n")
    assert r.returncode == 0, r.stderr
    assert "python3" in r.stdout.split("kernels: ", 1)[1].split(")")[0]


def test_a_notebook_on_the_gateway_beside_a_local_one(
    orbit: Orbit, enterprise_gateway: EnterpriseGateway, tmp_path: Path
):
    gw = enterprise_gateway
    work = tmp_path / "work"
    make_notebook(work / "here.ipynb", CODE)
    there = make_notebook(
        work / "there.ipynb", CODE, metadata={"orbit": {"engine": "gateway:site"}}
    )
    _add(orbit, gw)
    token_file = orbit.home / "profiles" / "default" / "gateway-tokens" / "site"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert gw.token not in (orbit.home / "profiles" / "default" / "remotes.toml").read_text()
    r = orbit.run("env", str(there), "--json")
    report = json.loads(r.stdout)
    assert report["engine"] == "gateway:site" and report["built"] is True
    assert report["location"] == f"{gw.url} (python3)"

    info = orbit.up(work)
    server = Server(info["url"], info["token"])
    local = server.new_session("here.ipynb")
    remote = server.new_session("there.ipynb")
    kernels = {k["notebook"]: k for k in server.get("/orbit/api/status").json()["kernels"]}
    assert kernels[str(there)].get("engine") == "gateway:site", kernels[str(there)]

    async def scenario() -> None:
        async with (
            KernelWS(server, local["kernel"]["id"]) as lk,
            KernelWS(server, remote["kernel"]["id"]) as rk,
        ):
            await lk.kernel_info()
            info = await rk.kernel_info()
            assert info["implementation"] == "ipython", _why_not(server, there, gw)
            assert len(gw.kernels()) == 1  # the gateway runs one kernel: this notebook's
            a, b = await asyncio.gather(lk.execute(CODE), rk.execute(CODE))
            assert b.status == "ok", b
            prefix, user = b.stdout.split()
            assert Path(prefix) == gw.prefix  # the gateway's own environment
            assert user == "root"  # who asked, as the gateway was told (KERNEL_USERNAME)
            assert Path(a.stdout.split()[0]) != gw.prefix  # the other notebook stays here
            # rich output and binary-free round trips of every kind
            c = await rk.execute("from IPython.display import HTML; HTML('<b>x</b>')")
            assert c.results == [
                {"text/html": "<b>x</b>", "text/plain": "<IPython.core.display.HTML object>"}
            ]
            # An interrupt through the server reaches the kernel on the gateway.
            running = asyncio.ensure_future(rk.execute("import time; time.sleep(60)", timeout=60))
            await asyncio.sleep(2)
            assert (
                server.post(f"/api/kernels/{remote['kernel']['id']}/interrupt").status_code == 204
            )
            stopped = await running
            assert stopped.error and stopped.error["ename"] == "KeyboardInterrupt"
            after = await rk.execute("print('still here')")
            assert after.stdout.strip() == "still here"

    asyncio.run(scenario())
    bridge = next(
        p for p in Path("/proc").iterdir()
        if p.name.isdigit() and b"jupyter_orbit.remote.gateway_kernel" in _cmdline(p)
    )  # fmt: skip
    assert gw.token.encode() not in _cmdline(bridge)
    # Shutting the notebook's kernel down deletes it on the gateway.
    assert server.delete(f"/api/sessions/{remote['id']}").status_code == 204
    deadline = time.monotonic() + 30
    while gw.kernels():
        assert time.monotonic() < deadline, gw.kernels()
        time.sleep(0.3)


def _why_not(server: Server, notebook: Path, gw: EnterpriseGateway) -> str:
    """What the server knows of the notebook's kernel, and the gateway's last lines."""
    kernels = server.get("/orbit/api/status").json()["kernels"]
    mine = [k for k in kernels if k.get("notebook") == str(notebook)]
    tail = gw.log.read_text(errors="replace").splitlines()[-20:]
    return f"{mine}\n--- gateway log ---\n" + "\n".join(tail)


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_a_gateway_nobody_added_is_never_contacted(
    orbit: Orbit, enterprise_gateway: EnterpriseGateway, tmp_path: Path
):
    """A notebook naming a gateway's URL runs there only if the user added that gateway; one
    that names another URL gets the reason in the notebook, and no request leaves."""
    gw = enterprise_gateway
    work = tmp_path / "work"
    url_nb = make_notebook(
        work / "url.ipynb", "1", metadata={"orbit": {"engine": f"gateway:{gw.url}"}}
    )
    r = orbit.run("env", str(url_nb), "--json")
    assert "no gateway" in json.loads(r.stdout)["problem"]["error"]
    before = gw.log.read_text().count("GET /api/kernelspecs")
    _add(orbit, gw)  # now the user added it: the notebook's URL names it
    r = orbit.run("env", str(url_nb), "--json")
    assert json.loads(r.stdout)["built"] is True
    assert gw.log.read_text().count("GET /api/kernelspecs") > before
    r = orbit.run("remote", "add", "wrong", gw.url, "--token-stdin", input="not-the-token\n")
    assert r.returncode == 1 and "refused Orbit's request (401)" in r.stderr
    assert "wrong" not in orbit.run("remote", "list").stdout  # nothing kept of it


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://gateway.example.org", "plain http to another machine"),
        ("https://user:pw@gateway.example.org", "contains credentials"),
        ("ftp://gateway.example.org", "not a gateway address"),
        ("https://gateway.example.org/?token=x", "query or fragment"),
    ],
)
def test_gateway_addresses_that_would_leak_are_refused(url: str, why: str):
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.remote.url import parse_gateway_url

    with pytest.raises(InputError, match=why):
        parse_gateway_url(url)
    assert parse_gateway_url("http://127.0.0.1:8888/") == "http://127.0.0.1:8888"
    assert parse_gateway_url("https://gw.example.org/base") == "https://gw.example.org/base"
