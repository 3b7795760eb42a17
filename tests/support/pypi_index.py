"""A local package index for tests: wheels built on the fly, served over PEP 691 JSON (with
PEP 700 upload times, so ``--exclude-newer`` works) and PEP 503 HTML, on 127.0.0.1.

    with LocalIndex(tmp_path) as index:
        index.add("orbit-demo", "1.0", {"orbit_demo/__init__.py": "X = 1\\n"}, uploaded="2020-01-01")
        run uv/orbit with --index-url index.url

It can misbehave on purpose, as real indexes and their CDNs sometimes do: leave a version out of
a package's page on some requests (``drop``: listed when resolving, missing when installing, or
the other way round), list a file it does not serve (``withhold``), or answer a package's page
only after a pause (``stall``: a timeout).
Requests for a package's page are counted from 1 (``page_requests``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    files: dict[str, str] | None = None,
    *,
    requires: list[str] | tuple[str, ...] = (),
    summary: str = "",
    requires_python: str | None = None,
    tag: str = "py3-none-any",
) -> Path:
    """Write a pure-Python wheel (tagged ``tag``, py3-none-any by default) and return its path."""
    dist = name.replace("-", "_")
    files = files or {f"{dist}/__init__.py": f"__version__ = {version!r}\n"}
    info = f"{dist}-{version}.dist-info"
    metadata = (
        "\n".join(
            ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
            + [f"Requires-Dist: {r}" for r in requires]
            + ([f"Requires-Python: {requires_python}"] if requires_python else [])
        )
        + "\n"
    )
    contents = dict(files)
    contents[f"{info}/METADATA"] = metadata
    contents[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: orbit-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    )
    record = [f"{p},{_record_hash(c.encode())},{len(c.encode())}" for p, c in contents.items()]
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, content in contents.items():
            z.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), content)
    return wheel


@dataclass
class _File:
    wheel: Path
    uploaded: datetime
    sha256: str
    requires_python: str | None = None
    version: str = ""
    summary: str = ""


class LocalIndex:
    def __init__(self, root: Path) -> None:
        self.root = root / "index-files"
        self.root.mkdir(parents=True, exist_ok=True)
        self.projects: dict[str, list[_File]] = {}
        self.requests: list[str] = []  # every path asked for, in order
        self._server: ThreadingHTTPServer | None = None
        self._pages: dict[str, int] = {}  # requests of each package's page so far
        self._drops: list[tuple[str, str, Callable[[int], bool]]] = []
        self._stalls: list[tuple[str, float, Callable[[int], bool]]] = []
        self._lock = threading.Lock()
        self.withheld: set[str] = set()  # wheel files listed but answered with 404

    def withhold(self, name: str, version: str) -> None:
        """Keep listing ``version`` of ``name`` but answer its file with 404."""
        for f in self.projects[canonicalize_name(name)]:
            if f.version == version:
                self.withheld.add(f.wheel.name)

    def drop(self, name: str, version: str, *, when: Callable[[int], bool]) -> None:
        """Leave ``version`` out of ``name``'s page on the requests ``when`` picks (by number,
        from 1): ``when=lambda n: n == 1`` drops it once, ``lambda n: n > 1`` lists it once
        and never again."""
        self._drops.append((canonicalize_name(name), version, when))

    def stall(self, name: str, seconds: float, *, when: Callable[[int], bool]) -> None:
        """Answer ``name``'s page only after ``seconds`` on the requests ``when`` picks."""
        self._stalls.append((canonicalize_name(name), seconds, when))

    def page_requests(self, name: str) -> int:
        return self._pages.get(canonicalize_name(name), 0)

    def _count(self, name: str) -> int:
        with self._lock:
            self._pages[name] = self._pages.get(name, 0) + 1
            return self._pages[name]

    def add(
        self,
        name: str,
        version: str,
        files: dict[str, str] | None = None,
        *,
        uploaded: str = "2020-01-01T00:00:00Z",
        requires: list[str] | tuple[str, ...] = (),
        summary: str = "",
        requires_python: str | None = None,
        tag: str = "py3-none-any",
    ) -> Path:
        wheel = build_wheel(
            self.root,
            name,
            version,
            files,
            requires=requires,
            summary=summary,
            requires_python=requires_python,
            tag=tag,
        )
        when = datetime.fromisoformat(uploaded.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        self.projects.setdefault(canonicalize_name(name), []).append(
            _File(wheel, when, digest, requires_python, version, summary)
        )
        return wheel

    @property
    def url(self) -> str:
        assert self._server is not None, "start the index first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def __enter__(self) -> LocalIndex:
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._head_only = True
                self.do_GET()

            def do_GET(self) -> None:
                index.requests.append(self.path)
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                if parts[:1] == ["files"] and len(parts) == 2:
                    wheel = index.root / parts[1]
                    if not wheel.is_file() or parts[1] in index.withheld:
                        return self._send(404, b"not found", "text/plain")
                    return self._send(200, wheel.read_bytes(), "application/octet-stream")
                if parts == ["simple"]:
                    return self._project_list()
                if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
                    return self._json_api(canonicalize_name(parts[1]))
                if len(parts) == 2 and parts[0] == "simple":
                    return self._project(canonicalize_name(parts[1]))
                self._send(404, b"not found", "text/plain")

            def _wants_json(self) -> bool:
                return "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")

            def _project_list(self) -> None:
                names = sorted(index.projects)
                if self._wants_json():
                    body = {
                        "meta": {"api-version": "1.1"},
                        "projects": [{"name": n} for n in names],
                    }
                    return self._send(
                        200, json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json"
                    )
                links = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
                self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html")

            def _json_api(self, name: str) -> None:
                """Warehouse's JSON API, reduced to what clients read for a summary."""
                from packaging.version import Version

                files = index.projects.get(name)
                if not files:
                    return self._send(404, b"not found", "text/plain")
                latest = max(files, key=lambda f: Version(f.version))
                info = {"name": name, "version": latest.version, "summary": latest.summary}
                self._send(200, json.dumps({"info": info}).encode(), "application/json")

            def _project(self, name: str) -> None:
                files = index.projects.get(name)
                if not files:
                    return self._send(404, b"not found", "text/plain")
                n = index._count(name)
                for who, seconds, when in index._stalls:
                    if who == name and when(n):
                        time.sleep(seconds)
                dropped = {v for who, v, when in index._drops if who == name and when(n)}
                files = [f for f in files if f.version not in dropped]
                if self._wants_json():
                    body = {
                        "meta": {"api-version": "1.1"},
                        "name": name,
                        "versions": sorted({f.wheel.name.split("-")[1] for f in files}),
                        "files": [
                            {
                                "filename": f.wheel.name,
                                "url": f"/files/{f.wheel.name}",
                                "hashes": {"sha256": f.sha256},
                                "upload-time": f.uploaded.isoformat().replace("+00:00", "Z"),
                                "size": f.wheel.stat().st_size,
                                **(
                                    {"requires-python": f.requires_python}
                                    if f.requires_python
                                    else {}
                                ),
                            }
                            for f in files
                        ],
                    }
                    return self._send(
                        200, json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json"
                    )
                links = "".join(
                    f'<a href="/files/{html.escape(f.wheel.name)}#sha256={f.sha256}"'
                    + (
                        f' data-requires-python="{html.escape(f.requires_python)}"'
                        if f.requires_python
                        else ""
                    )
                    + f">{html.escape(f.wheel.name)}</a>\n"
                    for f in files
                )
                self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if not getattr(self, "_head_only", False):
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a stalled answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
