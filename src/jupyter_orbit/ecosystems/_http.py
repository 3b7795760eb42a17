"""Registry requests and the small disk cache that makes repeated searches fast and offline
searches possible. httpx is imported only when a request is really made."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_orbit import __version__, atomic

USER_AGENT = f"jupyter-orbit/{__version__}"


class Unreachable(Exception):
    """The registry did not answer (no network, DNS, timeout, 5xx)."""


def fetch(
    url: str, *, accept: str = "application/json", timeout: float = 15
) -> tuple[int, bytes, str]:
    """``(status, body, content type)``; network failures and 5xx raise ``Unreachable``."""
    import httpx

    try:
        r = httpx.get(
            url,
            headers={"Accept": accept, "User-Agent": USER_AGENT},
            timeout=timeout,
            follow_redirects=True,
        )
    except httpx.HTTPError as e:
        raise Unreachable(f"{url}: {type(e).__name__}: {e}") from None
    if r.status_code >= 500:
        raise Unreachable(f"{url}: HTTP {r.status_code}")
    return r.status_code, r.content, r.headers.get("content-type", "")


def fetch_json(url: str, *, accept: str = "application/json", timeout: float = 15) -> Any:
    """The JSON at ``url``, or None when the registry says there is none (4xx)."""
    status, body, _ = fetch(url, accept=accept, timeout=timeout)
    if status >= 400:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise Unreachable(f"{url}: not JSON") from None


@dataclass
class DiskCache:
    """JSON values under a folder, one file per key, with the time they were stored."""

    root: Path

    def _file(self, key: str) -> Path:
        return self.root / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def get(self, key: str) -> tuple[Any, float] | None:
        """``(value, age in seconds)`` or None."""
        try:
            record = json.loads(self._file(key).read_text())
            return record["value"], time.time() - float(record["stored"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, value: Any) -> None:
        # A cache that cannot be written only makes the next search slower.
        with contextlib.suppress(OSError):
            atomic.write_json(
                self._file(key), {"key": key, "stored": time.time(), "value": value}, indent=None
            )
