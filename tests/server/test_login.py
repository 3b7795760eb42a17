"""One-time login links: a code works once and only for a while, leads only to a page of the
server, and minting one needs the token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jupyter_orbit.server.login import LIFETIME, Codes, safe_page
from tests.conftest import Orbit


def test_a_code_works_once_and_expires():
    codes = Codes()
    code = codes.new(now=100.0)
    assert len(code) >= 40
    assert codes.use(code, now=101.0) is True
    assert codes.use(code, now=102.0) is False  # used
    late = codes.new(now=100.0)
    assert codes.use(late, now=100.0 + LIFETIME + 1) is False  # expired
    assert codes.use("made-up", now=100.0) is False
    many = [codes.new(now=200.0) for _ in range(100)]
    assert codes.use(many[0], now=201.0) is False  # the oldest unused are forgotten
    assert codes.use(many[-1], now=201.0) is True


@pytest.mark.parametrize(
    ("page", "safe"),
    [
        ("lab", True),
        ("lab/tree/sub%20dir/nb.ipynb", True),
        ("orbit/launcher", True),
        ("/lab", False),
        ("//evil.example/", False),
        ("https://evil.example/", False),
        ("\\\\evil.example", False),
        ("lab/../../etc", False),
        ("", False),
    ],
)
def test_links_lead_only_to_pages_of_the_server(page: str, safe: bool):
    assert (safe_page(page) == page) is safe


def test_minting_needs_the_token_and_bad_codes_are_refused(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    server = orbit.server(root)
    anonymous = httpx.post(server.url + "orbit/api/login-link", json={"next": "lab"}, timeout=30)
    assert anonymous.status_code == 403
    assert server.post("/orbit/api/login-link", json={"next": "//evil.example"}).status_code == 400
    link = server.post("/orbit/api/login-link", json={"next": "lab"}).json()["url"]
    forged = httpx.get(server.url + "orbit/login?code=forged&next=lab", timeout=30)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    first = httpx.get(link, timeout=30)
    assert first.status_code == 302 and first.headers["location"] == "/lab"
    assert first.headers.get("referrer-policy") == "no-referrer"
