"""Helpers for tests of the launcher: profile server config, and a logged-in HTTP client."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx


def configure(orbit_home: Path, profile: str = "default", **extension: Any) -> None:
    """Set ``OrbitExtension`` traits in the profile's server config (before it starts)."""
    config = orbit_home / "profiles" / profile / "jupyter" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps({"OrbitExtension": extension}))


class Browserish:
    """Talks to the server as the launcher page does: login cookie from the token, then XSRF."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=600)
        r = self.client.get("orbit/launcher", params={"token": token})
        r.raise_for_status()
        self.page = r

    @property
    def xsrf(self) -> str:
        return self.client.cookies["_xsrf"]

    def state(self, folder: str = "", engine: str = "") -> dict:
        r = self.client.get("orbit/api/launcher", params={"folder": folder, "engine": engine})
        r.raise_for_status()
        return r.json()

    def launch(self, kernel: str, folder: str = "", **extra: Any) -> httpx.Response:
        return self.client.post(
            "orbit/api/launcher/launch",
            json={"kernel": kernel, "folder": folder, **extra},
            headers={"X-XSRFToken": self.xsrf},
        )

    def events(self, job: str) -> list[dict]:
        out = []
        with self.client.stream("GET", f"orbit/api/launcher/jobs/{job}/events") as s:
            assert s.headers["content-type"].startswith("text/event-stream")
            for line in s.iter_lines():
                if line.startswith("data:"):
                    out.append(json.loads(line[5:]))
        return out

    def wait_warm(self, env_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pool = {p["env_id"]: p for p in self.state()["pool"]}
            if pool.get(env_id, {}).get("ready"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"no warm kernel for {env_id}")
