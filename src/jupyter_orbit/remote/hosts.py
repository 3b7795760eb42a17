"""The remote hosts and gateways of a profile, kept in ``<profile>/remotes.toml``.

    [hosts.lab]
    url = "ssh://me@lab.example.org"
    added = "2025-06-01T12:00:00+00:00"
    # optional: where that host's builds take packages from (the user's own configuration)
    index-url = "https://mirror.example.org/simple"
    find-links = ["https://mirror.example.org/wheels/"]
    no-index = false

    [gateways.site]
    url = "https://gateway.example.org"

The file is read-modified-written under a lock and replaced atomically (tomlkit keeps the user's
comments). Host keys Orbit was told to accept live beside it in ``<profile>/known_hosts``; a
gateway's token in ``<profile>/gateway-tokens/<name>`` (mode 0600, never in the TOML file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import ProfilePaths
from jupyter_orbit.remote.url import SshTarget, check_host_name, parse_gateway_url, parse_ssh_url

FILE = "remotes.toml"
KNOWN_HOSTS = "known_hosts"
TOKENS = "gateway-tokens"


@dataclass(frozen=True)
class RemoteHost:
    """One host a profile can run kernels on."""

    name: str
    target: SshTarget
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    added: str = field(default="", compare=False)

    @property
    def engine(self) -> str:
        return f"ssh:{self.name}"

    def index_args(self) -> list[str]:
        """uv options for this host's builds (where its packages come from)."""
        args: list[str] = []
        if self.no_index:
            args.append("--no-index")
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for url in self.find_links:
            args += ["--find-links", url]
        return args

    def to_table(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": str(self.target)}
        if self.added:
            out["added"] = self.added
        if self.index_url:
            out["index-url"] = self.index_url
        if self.extra_index_urls:
            out["extra-index-urls"] = list(self.extra_index_urls)
        if self.find_links:
            out["find-links"] = list(self.find_links)
        if self.no_index:
            out["no-index"] = True
        return out


@dataclass(frozen=True)
class Gateway:
    """A Jupyter (Enterprise) Gateway a profile can start kernels through."""

    name: str
    url: str
    added: str = field(default="", compare=False)

    @property
    def engine(self) -> str:
        return f"gateway:{self.name}"

    def to_table(self) -> dict[str, Any]:
        return {"url": self.url, **({"added": self.added} if self.added else {})}


def host_from_table(name: str, table: Any, path: Path) -> RemoteHost:
    if not isinstance(table, dict) or not isinstance(table.get("url"), str):
        raise InputError(f"remote {name!r} has no url", "fix or remove that table", path=path)

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"remote {name!r}: {key} must be a list of strings", path=path)
        return tuple(value)

    index_url = table.get("index-url")
    if index_url is not None and not isinstance(index_url, str):
        raise InputError(f"remote {name!r}: index-url must be a string", path=path)
    return RemoteHost(
        name=check_host_name(name),
        target=parse_ssh_url(table["url"]),
        index_url=index_url,
        extra_index_urls=strings("extra-index-urls"),
        find_links=strings("find-links"),
        no_index=bool(table.get("no-index", False)),
        added=str(table.get("added", "")),
    )


class HostStore:
    """Read and change a profile's remote hosts."""

    def __init__(self, profile_root: Path) -> None:
        self.root = profile_root

    @classmethod
    def of(cls, profile: ProfilePaths) -> HostStore:
        return cls(profile.root)

    @property
    def path(self) -> Path:
        return self.root / FILE

    @property
    def known_hosts(self) -> Path:
        """Host keys the user accepted through Orbit (OpenSSH's known_hosts format)."""
        return self.root / KNOWN_HOSTS

    @property
    def lock(self) -> Path:
        return self.root / f".{FILE}.lock"

    def _document(self) -> Any:
        import tomlkit

        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return tomlkit.document()
        try:
            return tomlkit.parse(text)
        except Exception as e:
            raise InputError(
                f"cannot read the remote hosts: {e}", "fix the TOML syntax", path=self.path
            ) from None

    def hosts(self) -> list[RemoteHost]:
        table = self._document().get("hosts", {})
        return [host_from_table(n, t, self.path) for n, t in table.items()]

    def gateways(self) -> list[Gateway]:
        out = []
        for name, table in self._document().get("gateways", {}).items():
            if not isinstance(table, dict) or not isinstance(table.get("url"), str):
                raise InputError(
                    f"gateway {name!r} has no url", "fix or remove that table", path=self.path
                )
            url = parse_gateway_url(table["url"])
            out.append(Gateway(check_host_name(name), url, str(table.get("added", ""))))
        return out

    def gateway(self, target: str) -> Gateway:
        """The gateway called ``target``, or whose URL ``target`` is (a notebook may carry the
        URL; only a gateway the user added is ever contacted)."""
        gateways = self.gateways()
        for gw in gateways:
            if target in (gw.name, gw.url):
                return gw
        names = ", ".join(g.name for g in gateways) or "none yet"
        raise InputError(
            f"no gateway {target!r} in this profile",
            f"known gateways: {names}; add one with `orbit remote add NAME https://gateway`",
            path=self.path,
        )

    def token_file(self, name: str) -> Path:
        return self.root / TOKENS / check_host_name(name)

    def token(self, name: str) -> str | None:
        try:
            return self.token_file(name).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def get(self, name: str) -> RemoteHost:
        for host in self.hosts():
            if host.name == name:
                return host
        names = ", ".join(h.name for h in self.hosts()) or "none yet"
        raise InputError(
            f"no remote host named {name!r} in this profile",
            f"known remotes: {names}; add one with `orbit remote add {name} ssh://user@host`",
            path=self.path,
        )

    def add(self, host: RemoteHost, *, replace: bool = False) -> RemoteHost:
        """Record ``host``; an existing name is refused unless ``replace``."""
        import tomlkit
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.lock):
            doc = self._document()
            hosts = doc.setdefault("hosts", tomlkit.table(is_super_table=True))
            if host.name in doc.get("gateways", {}) or (host.name in hosts and not replace):
                raise InputError(
                    f"a remote named {host.name!r} exists already",
                    f"remove it first (`orbit remote remove {host.name}`) or pick another name",
                    path=self.path,
                )
            if not host.added:
                now = datetime.now(UTC).isoformat(timespec="seconds")
                host = RemoteHost(**{**host.__dict__, "added": now})
            table = tomlkit.table()
            for key, value in host.to_table().items():
                table[key] = value
            hosts[host.name] = table
            atomic.write_text(self.path, tomlkit.dumps(doc), mode=0o600)
        return host

    def remove(self, name: str) -> RemoteHost:
        from filelock import FileLock

        with FileLock(self.lock):
            host = self.get(name)
            doc = self._document()
            del doc["hosts"][name]
            atomic.write_text(self.path, doc.as_string(), mode=0o600)
        return host

    def add_gateway(
        self, gateway: Gateway, token: str | None = None, *, replace: bool = False
    ) -> Gateway:
        """Record ``gateway`` (and its token, in a file of its own); a name in use is refused
        unless ``replace``."""
        import tomlkit
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.lock):
            doc = self._document()
            taken = {*doc.get("hosts", {}), *doc.get("gateways", {})}
            if gateway.name in taken and not (replace and gateway.name in doc.get("gateways", {})):
                raise InputError(
                    f"a remote named {gateway.name!r} exists already",
                    f"remove it first (`orbit remote remove {gateway.name}`) or pick another name",
                    path=self.path,
                )
            if not gateway.added:
                now = datetime.now(UTC).isoformat(timespec="seconds")
                gateway = Gateway(gateway.name, gateway.url, now)
            gateways = doc.setdefault("gateways", tomlkit.table(is_super_table=True))
            table = tomlkit.table()
            for key, value in gateway.to_table().items():
                table[key] = value
            gateways[gateway.name] = table
            if token is not None:
                self.token_file(gateway.name).parent.mkdir(mode=0o700, exist_ok=True)
                atomic.write_text(self.token_file(gateway.name), token.strip() + "\n", mode=0o600)
            atomic.write_text(self.path, tomlkit.dumps(doc), mode=0o600)
        return gateway

    def remove_gateway(self, name: str) -> Gateway:
        from filelock import FileLock

        with FileLock(self.lock):
            gateway = self.gateway(name)
            doc = self._document()
            del doc["gateways"][gateway.name]
            atomic.write_text(self.path, doc.as_string(), mode=0o600)
            self.token_file(gateway.name).unlink(missing_ok=True)
        return gateway
