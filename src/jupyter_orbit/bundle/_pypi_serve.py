"""Child process: pypiserver's WSGI app over a threading HTTP server on 127.0.0.1.

    python -m jupyter_orbit.bundle._pypi_serve FOLDER

Binds port 0 and prints ``{"orbit_port": N}`` once it listens, so the parent learns the port
the kernel chose (no bind-close-reuse race). Read-only: no uploads, and no fallback to PyPI for
a package it does not hold (a 404, which the installer reports as "not found").
"""

from __future__ import annotations

import json
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> None:
    import pypiserver

    folders = argv or ["."]
    app = pypiserver.app(
        roots=folders,
        disable_fallback=True,
        authenticate=["update", "remove"],
        password_file=None,
        hash_algo="sha256",
        overwrite=False,
    )
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler)
    print(json.dumps({"orbit_port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
