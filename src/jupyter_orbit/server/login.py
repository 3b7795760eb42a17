"""One-time login links: a way into the server that may be printed in a terminal.

The server's token must never appear in a command line, a log or a printed URL. When Orbit
cannot open a browser itself (no display, no browser, ``--no-browser``), it asks the server for
a link that logs a browser in once: ``POST /orbit/api/login-link`` (token-authenticated, like
every Orbit endpoint) returns ``…/orbit/login?code=CODE&next=PAGE``. The code is random, works
once and only for ``LIFETIME`` seconds, and lives only in the server's memory; jupyter_server
scrubs ``code`` parameters from its request log. Opening the link sets the server's login cookie
(as logging in with the token would) and goes on to ``PAGE``, a page of this server.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import quote, urlencode

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from jupyter_orbit.server.extension import _OrbitHandler

LIFETIME = 15 * 60  # seconds a link may wait to be opened
_MAX_OPEN = 64  # links not yet used, at most (the oldest are forgotten first)


class Codes:
    """Unused codes and when each expires."""

    def __init__(self) -> None:
        self._codes: dict[str, float] = {}

    def new(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        self._codes = {c: t for c, t in self._codes.items() if t > now}
        while len(self._codes) >= _MAX_OPEN:
            self._codes.pop(next(iter(self._codes)))
        code = secrets.token_urlsafe(32)
        self._codes[code] = now + LIFETIME
        return code

    def use(self, code: str, now: float | None = None) -> bool:
        """True once for a code that was handed out and has not expired."""
        now = time.monotonic() if now is None else now
        expires = self._codes.pop(code, None)
        return expires is not None and expires > now


def safe_page(page: str) -> str | None:
    """``page`` if it is a page of this server (``lab``, ``lab/tree/x.ipynb``,
    ``orbit/launcher``), else None: a link must not lead anywhere else."""
    page = page.strip()
    if not page or page.startswith(("/", "\\")) or "://" in page or "\\" in page:
        return None
    if any(part == ".." for part in page.split("?")[0].split("/")):
        return None
    return page


def _codes(handler: web.RequestHandler) -> Codes:
    return handler.settings.setdefault("orbit_login_codes", Codes())


class LoginLinkHandler(_OrbitHandler):
    """``POST {"next": PAGE}`` → ``{"url": a one-time login link to PAGE}``."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.get_json_body() or {}
        page = safe_page(str(body.get("next") or "lab"))
        if page is None:
            raise web.HTTPError(400, "next must be a page of this server")
        code = _codes(self).new()
        query = urlencode({"code": code, "next": page}, quote_via=quote, safe="/")
        url = f"{self.request.protocol}://{self.request.host}{self.base_url}orbit/login?{query}"
        self.finish(json.dumps({"url": url, "expires_in": LIFETIME}))


class LoginHandler(JupyterHandler):
    """Opening a link: log the browser in once, then go on to the page it names."""

    async def get(self) -> None:
        code = self.get_argument("code", "")
        page = safe_page(self.get_argument("next", "lab"))
        if page is None or not code or not _codes(self).use(code):
            self.set_status(403)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(
                "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Orbit</title></head>"
                "<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>"
                "<h2>This login link was used already or has expired</h2>"
                "<p>Each link opens the server once. Run <code>orbit status</code> in a "
                "terminal for a new one.</p></body></html>\n"
            )
            return
        idp = self.identity_provider
        idp.set_login_cookie(self, idp.generate_anonymous_user(self))
        self.set_header("Referrer-Policy", "no-referrer")  # the used code goes nowhere else
        self.redirect(self.base_url + page)


def handlers() -> list[tuple[str, type]]:
    return [(r"/orbit/api/login-link", LoginLinkHandler), (r"/orbit/login", LoginHandler)]
