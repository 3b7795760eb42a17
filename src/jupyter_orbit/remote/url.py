"""``ssh://user@host[:port]``: where a remote host is, parsed and checked (no I/O)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from jupyter_orbit.errors import InputError

_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HINT = "write it as ssh://user@host or ssh://user@host:port (user and port are optional)"


@dataclass(frozen=True)
class SshTarget:
    """A host to reach over SSH. ``user`` and ``port`` unset: the SSH config decides."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{host}{port}"


def parse_ssh_url(text: str) -> SshTarget:
    """The target ``text`` names; anything else (a password, a path, a query) is refused."""
    text = text.strip()
    if not text.startswith("ssh://"):
        raise InputError(f"not an ssh:// address: {text!r}", _HINT)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise InputError(f"invalid ssh:// address {text!r}: {e}", _HINT) from None
    if parts.password is not None:
        raise InputError(
            f"{text!r} contains a password",
            "Orbit never stores passwords: use a key (ssh-add, or IdentityFile in ~/.ssh/config)",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(f"{text!r} has a path or query; only user, host and port are used", _HINT)
    host = parts.hostname or ""
    if not host:
        raise InputError(f"{text!r} names no host", _HINT)
    if host.startswith("-") or not (_HOSTNAME.match(host) or _is_ip(host)):
        raise InputError(f"invalid host name {host!r} in {text!r}", _HINT)
    user = unquote(parts.username) if parts.username else None
    if user is not None and not _USER.match(user):
        raise InputError(f"invalid user name {user!r} in {text!r}", _HINT)
    if port == 0:
        raise InputError(f"invalid port 0 in {text!r}", _HINT)
    return SshTarget(host, user, port)


def check_host_name(name: str) -> str:
    """A remote's name in Orbit (``ssh:NAME``): one safe word."""
    if not _NAME.match(name) or ".." in name:
        raise InputError(
            f"invalid remote name {name!r}",
            "use letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)",
        )
    return name


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_GATEWAY_HINT = "write it as https://host[:port][/base/path] (http:// only on this machine)"


def parse_gateway_url(text: str) -> str:
    """A Jupyter (Enterprise) Gateway's base URL, normalised (no trailing slash).

    Plain ``http://`` is accepted for this machine's loopback only: elsewhere the token and every
    cell's code would cross the network in clear. Credentials, queries and fragments are refused
    (the token is kept apart from the URL, which notebooks may carry).
    """
    text = text.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise InputError(f"invalid gateway address {text!r}: {e}", _GATEWAY_HINT) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"not a gateway address: {text!r}", _GATEWAY_HINT)
    if parts.username or parts.password:
        raise InputError(
            f"{text!r} contains credentials",
            "give the gateway's token with `orbit remote add NAME URL --token-stdin` instead",
        )
    if parts.query or parts.fragment:
        raise InputError(f"{text!r} has a query or fragment", _GATEWAY_HINT)
    host = parts.hostname
    if parts.scheme == "http" and not _loopback(host):
        raise InputError(
            f"{text!r} is plain http to another machine: the gateway's token and your code "
            "would travel unencrypted",
            "use the gateway's https:// address, or reach it through an SSH tunnel to "
            "http://127.0.0.1:PORT",
        )
    if port == 0:
        raise InputError(f"invalid port 0 in {text!r}", _GATEWAY_HINT)
    return text.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
