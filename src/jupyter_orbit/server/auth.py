"""Who may talk to the server: the token's holder, from the server's own origin or a script.

jupyter_server lets a token-carrying request through from any ``Origin`` and echoes that origin
in ``Access-Control-Allow-Origin``, so a web page that learns the token (a leaked URL, a shared
screen) can drive the server from its own site. Orbit's identity provider treats a request that
comes from a foreign origin as anonymous, whatever token or cookie it carries, for every
handler (Jupyter's, extensions', Orbit's, the websockets): the request is refused before it runs
and no CORS header is set for it. A request without ``Origin`` (a script, the command line) or
from the page's own origin is authenticated as before. The ``Host`` header is checked by
jupyter_server itself (loopback names only, see ``enforced_config``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from jupyter_server.auth.identity import PasswordIdentityProvider, User
from tornado import web


def foreign_origin(request: object) -> str | None:
    """The request's ``Origin`` if it names another site than the one it was sent to."""
    headers = request.headers  # type: ignore[attr-defined]
    origin = headers.get("Origin", headers.get("Sec-Websocket-Origin"))
    if origin is None:  # a script, the command line
        return None
    parts = urlsplit(origin.strip().lower())
    host = (headers.get("Host") or "").strip().lower()
    if parts.scheme in ("http", "https") and parts.netloc and parts.netloc == host:
        return None
    return origin


class OrbitIdentityProvider(PasswordIdentityProvider):
    async def get_user(self, handler: web.RequestHandler) -> User | None:  # type: ignore[override]
        if (origin := foreign_origin(handler.request)) is not None:
            self.log.warning(
                "Orbit: refused %s %s from foreign origin %r",
                handler.request.method,
                handler.request.path,
                origin[:200],
            )
            return None
        return await self._get_user(handler)

    def should_check_origin(self, handler: web.RequestHandler) -> bool:
        # jupyter_server skips the check for token-authenticated requests; Orbit never does.
        return True
