"""The profile's server asks nothing of the network that nobody asked for: JupyterLab's news
feed and update checks are off unless the profile turns announcements on."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jupyter_orbit.server.app import ANNOUNCEMENTS_PLUGIN, quiet_page
from tests.conftest import Orbit
from tests.support.kernelws import Server

FEED = (
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
    "<title>news</title><id>urn:orbit-test</id><updated>2025-01-01T00:00:00Z</updated>"
    "</feed>"
)


@pytest.fixture
def feed() -> Iterator[list[str]]:
    """A local stand-in for Jupyter's news feed; the list holds every request it got."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            body = FEED.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    asked.insert(0, f"http://127.0.0.1:{server.server_address[1]}/feed.xml")
    yield asked
    server.shutdown()
    server.server_close()


def page_config(server: Server) -> dict:
    html = server.get("/lab").text
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, html[:500]
    return json.loads(found.group(1))


def test_a_fresh_profile_fetches_no_news_and_a_profile_setting_turns_them_on(
    orbit: Orbit, tmp_path: Path, feed: list[str]
):
    feed_url = feed.pop(0)
    config = orbit.home / "profiles" / "default" / "jupyter" / "config"
    config.mkdir(parents=True)
    # even a news feed named in the profile's config is not asked while announcements are off
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"LabApp": {"news_url": feed_url}})
    )
    root = tmp_path / "proj"
    root.mkdir()
    server = orbit.server(root)
    assert ANNOUNCEMENTS_PLUGIN in page_config(server)["disabledExtensions"]
    news = server.get("/lab/api/news")
    assert news.status_code == 200 and news.json() == {"news": []}
    assert server.get("/lab/api/update").json() == {"notification": None}
    assert feed == []  # nothing asked the feed

    orbit.down_all()
    r = orbit.run("config", "set", "OrbitExtension.announcements", "true")
    assert r.returncode == 0, r.stderr
    assert (
        "announcements = true" in (orbit.home / "profiles" / "default" / "profile.toml").read_text()
    )
    server = orbit.server(root)
    assert ANNOUNCEMENTS_PLUGIN not in page_config(server)["disabledExtensions"]
    assert server.get("/lab/api/news").status_code == 200
    assert feed == ["/feed.xml"]  # asked now, because the profile says so


def test_the_page_config_hook_keeps_what_is_disabled_already():
    assert quiet_page({"disabledExtensions": ["a:b"]})["disabledExtensions"] == [
        "a:b",
        ANNOUNCEMENTS_PLUGIN,
    ]
    assert quiet_page({"disabledExtensions": {"a:b": True}})["disabledExtensions"] == {
        "a:b": True,
        ANNOUNCEMENTS_PLUGIN: True,
    }
    assert quiet_page({})["disabledExtensions"] == [ANNOUNCEMENTS_PLUGIN]
