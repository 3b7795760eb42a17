"""A local index of every project name on a PyPI-style index, for searching: PyPI has no
search API.

The names come from the index's project list (``/simple/``): PEP 691 JSON when the index serves
it, else the PEP 503 HTML page. They are stored canonicalised, one per line, in a plain text
file under ORBIT_HOME's cache; a search scans that file where it lies, mapped into memory
(about ten milliseconds for PyPI's ~900,000 names). An index older than a day is refreshed by a
background process while the search uses the copy it has; with no network the copy is used and
reported as stale.

The first search has no copy. It starts the download itself and reads it only when it is small
(``fetch_if_small``): a small index (a company's, a test's) is searched in full at once; PyPI's
(tens of megabytes) is left to the background process, and that first search is answered from
the exact name alone and says that the list is still loading.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import mmap
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from jupyter_orbit import atomic

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
REFRESH_AFTER = 24 * 3600
# A project list larger than this is not read while a search waits: the background does it.
INLINE_BYTES = 2_000_000
# Indexes known to be far larger (PyPI: ~40 MB), not even asked while a search waits.
KNOWN_LARGE = frozenset({"https://pypi.org/simple/"})
_ANCHOR = re.compile(r"<a\b[^>]*>([^<]+)</a>", re.I)
_SEPARATORS = re.compile(r"[-_.]+")


class NameIndex:
    def __init__(self, cache: Path, index_url: str) -> None:
        self.url = index_url.rstrip("/") + "/"
        self.dir = cache / "names" / hashlib.sha256(self.url.encode()).hexdigest()[:12]
        self.names_file = self.dir / "names.txt"
        self.meta_file = self.dir / "meta.json"
        self._blob: str | None = None

    def age(self) -> float | None:
        try:
            meta = json.loads(self.meta_file.read_text())
            return time.time() - float(meta["fetched"])
        except (OSError, ValueError, KeyError):
            return None

    def load(self) -> str | None:
        """All names as one string, each line framed by newlines ("\\nname\\n…")."""
        if self._blob is None:
            try:
                self._blob = "\n" + self.names_file.read_text()
            except OSError:
                return None
        return self._blob

    def names(self) -> list[str]:
        blob = self.load()
        return blob.split() if blob else []

    def refresh(self, timeout: float = 120) -> int:
        """Download the project list and store it; returns how many names it holds."""
        from jupyter_orbit.ecosystems._http import fetch

        status, body, ctype = fetch(
            self.url, accept=f"{SIMPLE_JSON}, text/html;q=0.1", timeout=timeout
        )
        if status >= 400:
            from jupyter_orbit.ecosystems._http import Unreachable

            raise Unreachable(f"{self.url}: HTTP {status}")
        return self._store(parse_project_list(body, ctype))

    def fetch_if_small(self, seconds: float) -> bool:
        """Download and store the project list if it is small (``INLINE_BYTES``: its
        Content-Length says so, or its body stays under it) and comes within ``seconds``;
        False, with nothing stored, for a larger or slower one. ``Unreachable`` when the index
        cannot be reached at all."""
        import httpx

        from jupyter_orbit.ecosystems._http import USER_AGENT, Unreachable

        if self.url in KNOWN_LARGE:
            return False
        deadline = time.monotonic() + seconds
        chunks: list[bytes] = []
        size = 0
        try:
            with httpx.stream(
                "GET",
                self.url,
                headers={"Accept": f"{SIMPLE_JSON}, text/html;q=0.1", "User-Agent": USER_AGENT},
                timeout=httpx.Timeout(max(seconds, 0.01)),
                follow_redirects=True,
            ) as r:
                if r.status_code >= 400:
                    raise Unreachable(f"{self.url}: HTTP {r.status_code}")
                ctype = r.headers.get("content-type", "")
                if int(r.headers.get("content-length") or 0) > INLINE_BYTES:
                    return False
                for chunk in r.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > INLINE_BYTES or time.monotonic() > deadline:
                        return False
        except httpx.TimeoutException:
            return False
        except httpx.HTTPError as e:
            raise Unreachable(f"{self.url}: {type(e).__name__}: {e}") from None
        self._store(parse_project_list(b"".join(chunks), ctype))
        return True

    def loading(self) -> bool:
        """Whether a background download of this index is under way."""
        with contextlib.suppress(OSError):
            return time.time() - (self.dir / "refreshing").stat().st_mtime < 600
        return False

    def _store(self, names: list[str]) -> int:
        atomic.write_text(self.names_file, "\n".join(names) + "\n")
        atomic.write_json(
            self.meta_file, {"url": self.url, "fetched": time.time(), "count": len(names)}
        )
        self._blob = None
        return len(names)

    def refresh_in_background(self) -> bool:
        """Start a detached refresher unless one is running; True if one was started."""
        self.dir.mkdir(parents=True, exist_ok=True)
        marker = self.dir / "refreshing"
        if self.loading():
            return False
        marker.touch()
        subprocess.Popen(
            [
                sys.executable,
                "-I",  # and started in Orbit's cache: the caller's folder is not on sys.path
                "-m",
                "jupyter_orbit.ecosystems.pypi_names",
                str(self.dir.parent.parent),
                self.url,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.dir,
            env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        )
        return True

    def search(self, query: str, limit: int = 200) -> list[str]:
        """Names containing ``query`` (canonicalised), at most ``limit`` of the best.

        Names that start with the query rank above every other (``tier``), so when there are
        ``limit`` of those, only they are looked at: a short query ("a") need not rank most
        of PyPI. The file is scanned where it lies (mapped, as bytes), not read into a string:
        reading and decoding PyPI's list would take twice as long as the scan."""
        from jupyter_orbit.ecosystems.base import tier

        if not query:
            return []
        try:
            with (
                self.names_file.open("rb") as f,
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as blob,
            ):
                lines = _lines_with(blob, query.encode(), limit)
        except (OSError, ValueError):  # no list yet, or an empty one (nothing to map)
            return []
        found = {name: tier(name, query) for name in lines}
        return sorted(found, key=lambda n: (found[n], len(n), n))[:limit]


def _lines_with(blob: mmap.mmap, query: bytes, limit: int) -> list[str]:
    """The lines of ``blob`` that start with ``query``, then (if fewer than ``limit``) those
    that contain it anywhere, each once."""
    found: dict[str, None] = {}
    for needle, at_start in ((b"\n" + query, blob[: len(query)] == query), (query, False)):
        pos = 0 if at_start else blob.find(needle)
        while pos >= 0:
            start = blob.rfind(b"\n", 0, pos + 1) + 1
            end = blob.find(b"\n", pos + 1)
            end = len(blob) if end < 0 else end
            found.setdefault(blob[start:end].decode(), None)
            pos = blob.find(needle, end)
        if len(found) >= limit:
            break
    return list(found)


def parse_project_list(body: bytes, ctype: str) -> list[str]:
    """The canonical names in a project list (PEP 691 JSON or PEP 503 HTML), sorted.

    Canonicalised all at once (one substitution over the joined names, which is what
    ``packaging.utils.canonicalize_name`` does to each): a million calls would take seconds.
    """
    if "json" in ctype:
        joined = "\n".join(p["name"] for p in json.loads(body)["projects"])
    else:  # PEP 503: one anchor per project
        joined = "\n".join(_ANCHOR.findall(body.decode("utf-8", "replace")))
        if "&" in joined:
            joined = html.unescape(joined)
    return sorted(set(_SEPARATORS.sub("-", joined).lower().split()))


def main(argv: list[str]) -> int:
    """``python -m jupyter_orbit.ecosystems.pypi_names CACHE URL``: refresh one index, quietly."""
    cache, url = Path(argv[0]), argv[1]
    index = NameIndex(cache, url)
    try:
        index.refresh()
    except Exception:
        return 1
    finally:
        with contextlib.suppress(OSError):
            (index.dir / "refreshing").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
