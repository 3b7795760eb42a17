"""Cross-origin requests, DNS rebinding and open redirects, against every endpoint.

A web page the user visits may know (or guess) the token and the port: it must not reach the
server from its own origin, nor through a name it points at 127.0.0.1 (DNS rebinding: the
browser then sends ``Host: attacker.example``). Every Jupyter endpoint below, every Orbit
endpoint (listed from Orbit's own handler modules, so a new one is covered at once), and the
kernel and terminal websockets refuse such requests and echo no foreign origin in
``Access-Control-Allow-Origin``. The login page's ``next`` parameter never sends the browser
to another site.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_orbit.server.extension import HANDLER_MODULES
from tests.conftest import Orbit, make_notebook
from tests.security.conftest import BOUND, Raw
from tests.support.kernelws import KernelWS

pytestmark = pytest.mark.integration

EVIL = "http://attacker.example"
# What a refused request gets: no user (403, or jupyter_server's 404 for a refused API call;
# a redirect to the login page for pages).
REFUSED = (302, 401, 403, 404)

JUPYTER = [
    ("GET", "/api/status"),
    ("GET", "/api/me"),
    ("GET", "/api/contents"),
    ("GET", "/api/contents/nb.ipynb"),
    ("GET", "/api/contents/nb.ipynb/checkpoints"),
    ("PUT", "/api/contents/planted.txt"),
    ("POST", "/api/contents"),
    ("GET", "/api/kernels"),
    ("POST", "/api/kernels"),
    ("GET", "/api/kernelspecs"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/terminals"),
    ("POST", "/api/terminals"),
    ("GET", "/api/config/notebook"),
    ("GET", "/lab"),
    ("GET", "/lab/tree/nb.ipynb"),
    ("GET", "/lab/api/settings"),
    ("GET", "/lab/api/workspaces"),
    ("GET", "/files/notes.txt"),
    ("GET", "/nbconvert/script/nb.ipynb"),
    ("GET", "/lsp/status"),
]
# Public assets (no token needed, nothing secret); still no foreign origin in the answer.
STATIC = re.compile(r"/static/")


def orbit_endpoints() -> list[tuple[str, str]]:
    """Every route of Orbit's server extension, with sample values for its parameters."""
    found = []
    for module in HANDLER_MODULES:
        for route in importlib.import_module(module).handlers():
            pattern, handler = route[0], route[1]
            path = re.sub(r"\([^)]*\)", "sample", pattern).replace("\\", "")
            for method in ("get", "post", "put", "delete", "patch"):
                if method in vars(handler) or any(
                    method in vars(base)
                    for base in handler.__mro__[1:-1]
                    if "orbit" in base.__module__
                ):
                    found.append((method.upper(), path))
    assert ("POST", "/orbit/api/run") in found and ("GET", "/orbit/api/status") in found
    return found


@pytest.fixture
def served(orbit: Orbit, tmp_path: Path) -> tuple[Raw, Path]:
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "print('hello')")
    (project / "notes.txt").write_text("private notes\n")
    return Raw(orbit.server(project)), project


def _state(raw: Raw, project: Path) -> tuple:
    """What a refused request must not have changed."""
    kernels = raw.request("GET", "/api/kernels").json()
    terminals = raw.request("GET", "/api/terminals").json()
    return len(kernels), len(terminals), sorted(p.name for p in project.iterdir())


def _bodies(method: str, path: str) -> dict:
    if method in ("PUT", "POST") and path.startswith("/api/contents"):
        return {"json": {"type": "file", "format": "text", "content": "planted"}}
    if path == "/api/sessions":
        return {"json": {"path": "x.ipynb", "type": "notebook", "kernel": {"name": "python3"}}}
    if method == "POST":
        return {"json": {"notebook": {}, "env_id": "x", "cwd": "/", "name": "python3"}}
    return {}


def test_foreign_origin_with_a_token_is_refused_everywhere(served: tuple[Raw, Path]):
    raw, project = served
    before = _state(raw, project)
    for method, path in JUPYTER + orbit_endpoints():
        kw = _bodies(method, path)
        r = raw.request(method, path, headers={"Origin": EVIL}, **kw)
        acao = r.headers.get("Access-Control-Allow-Origin", "")
        assert "attacker" not in acao, (method, path, acao)
        if STATIC.search(path):
            continue
        assert r.status_code in REFUSED, (method, path, r.status_code, r.text[:200])
        if r.status_code == 302:
            assert urlsplit(r.headers["Location"]).path.endswith("/login")
        assert "private notes" not in r.text and "hello" not in r.text
    # an opaque origin (a sandboxed frame, a file:// page) is foreign too
    for method, path in (("GET", "/api/contents/notes.txt"), ("POST", "/api/kernels")):
        r = raw.request(method, path, headers={"Origin": "null"})
        assert r.status_code in REFUSED and "private notes" not in r.text
    # last, the one that would end the server
    r = raw.request("POST", "/api/shutdown", headers={"Origin": EVIL})
    assert r.status_code in REFUSED and raw.request("GET", "/api/status").status_code == 200
    assert _state(raw, project) == before
    # the same requests from the server's own origin, or from a script (no Origin), work
    own = raw.base
    assert raw.request("GET", "/api/contents/notes.txt", headers={"Origin": own}).status_code == 200
    assert raw.request("GET", "/orbit/api/status").status_code == 200
    host = urlsplit(own).netloc
    r = raw.request("GET", "/api/status", headers={"Origin": own, "Host": host})
    assert r.status_code == 200


def test_dns_rebinding_names_are_refused(served: tuple[Raw, Path]):
    raw, project = served
    port = urlsplit(raw.base).port
    before = _state(raw, project)
    for host in (
        f"attacker.example:{port}",
        f"127.0.0.1.nip.io:{port}",
        f"localhost.attacker.example:{port}",
        f"0.0.0.0:{port}",
        "attacker.example",
    ):
        for method, path in JUPYTER + orbit_endpoints():
            r = raw.request(method, path, headers={"Host": host}, **_bodies(method, path))
            assert r.status_code == 403, (host, method, path, r.status_code)
            assert "private notes" not in r.text
            # the page the rebinding browser would show comes with the attacker's own origin
            r = raw.request(
                method,
                path,
                headers={"Host": host, "Origin": f"http://{host}"},
                **_bodies(method, path),
            )
            assert r.status_code == 403, (host, method, path, r.status_code)
    r = raw.request("POST", "/api/shutdown", headers={"Host": f"attacker.example:{port}"})
    assert r.status_code == 403 and raw.request("GET", "/api/status").status_code == 200
    assert _state(raw, project) == before
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert raw.request("GET", "/api/status", headers={"Host": host}).status_code == 200


async def _ws_handshake(url: str, headers: dict) -> int:
    try:
        ws = await asyncio.wait_for(websocket_connect(HTTPRequest(url, headers=headers)), BOUND)
    except HTTPClientError as e:
        return e.code
    ws.close()
    return 101


def test_websockets_refuse_foreign_origins_and_hosts(served: tuple[Raw, Path]):
    raw, _ = served
    session = raw.server.new_session("nb.ipynb")
    kernel = session["kernel"]["id"]
    terminal = raw.request("POST", "/api/terminals").json()["name"]
    ws = raw.base.replace("http://", "ws://")
    port = urlsplit(raw.base).port
    token = raw.server.headers
    urls = (
        f"{ws}/api/kernels/{kernel}/channels?session_id=x",
        f"{ws}/terminals/websocket/{terminal}",
        f"{ws}/api/events/subscribe",
    )

    async def go() -> None:
        for url in urls:
            assert await _ws_handshake(url, {**token, "Origin": EVIL}) == 403, url
            assert await _ws_handshake(url, {**token, "Origin": "null"}) == 403, url
            for host in (f"attacker.example:{port}", f"127.0.0.1.nip.io:{port}"):
                headers = {**token, "Host": host, "Origin": f"http://{host}"}
                assert await _ws_handshake(url, headers) == 403, (url, host)
            # the page's own origin may connect
            assert await _ws_handshake(url, {**token, "Origin": raw.base}) == 101, url
        async with KernelWS(raw.server, kernel) as k:  # and the kernel still answers
            await k.kernel_info()

    asyncio.run(go())


OPEN_REDIRECTS = (
    "//attacker.example/",
    "///attacker.example/",
    "////attacker.example",
    "https://attacker.example/",
    "https:attacker.example",
    "https:/attacker.example",
    "/\\attacker.example",
    "\\\\attacker.example",
    "/\\/attacker.example",
    "\t//attacker.example",
    " //attacker.example",
    "/%2F/attacker.example",
    "//attacker.example@127.0.0.1/",
    "http://127.0.0.1.attacker.example/",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "/lab/../../attacker.example",
)


def test_login_next_never_leaves_the_server(served: tuple[Raw, Path]):
    raw, _ = served
    own = urlsplit(raw.base)
    for payload in OPEN_REDIRECTS:
        for path in (f"/login?next={quote(payload)}", f"/logout?next={quote(payload)}"):
            # with the token (a logged-in user is redirected at once) and without it
            for token in (True, False):
                r = raw.request("GET", path, token=token)
                assert r.status_code in (200, 302), (payload, r.status_code)
                location = r.headers.get("Location", "")
                target = urlsplit(location)
                assert target.netloc in ("", own.netloc), (payload, location)
                assert target.scheme in ("", "http"), (payload, location)
                assert not re.match(r"^\s*[/\\]{2}", location), (payload, location)
