"""Adding a host to a profile: its key checked (or accepted by the user), a login tried, what
it has looked at, and only then the host (and an accepted key) recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jupyter_orbit.remote import bootstrap
from jupyter_orbit.remote.errors import HostKeyUnknown
from jupyter_orbit.remote.hostkeys import fingerprint, known_hosts_name
from jupyter_orbit.remote.hosts import HostStore, RemoteHost
from jupyter_orbit.remote.session import (
    connect,
    endpoint,
    host_key_changed,
    host_keys,
    server_key,
)


@dataclass(frozen=True)
class NewKey:
    """A host key no known_hosts file knows, shown to the user before anything is recorded."""

    host: str  # as known_hosts names it
    algorithm: str
    fingerprint: str


@dataclass(frozen=True)
class Enrolled:
    host: RemoteHost
    key: str  # "known" (already trusted) or "accepted" (recorded in Orbit's file now)
    fingerprint: str
    platform: str
    uv: str | None  # the remote's uv, if it has one


async def enroll(
    store: HostStore, host: RemoteHost, accept: Callable[[NewKey], bool], *, replace: bool = False
) -> Enrolled:
    """Check ``host`` end to end and record it; ``accept`` decides about an unknown key."""
    ep = endpoint(host)
    keys = host_keys(store, ep)
    key = await server_key(host, ep)
    verdict = keys.verdict(ep.host, ep.port, key)
    name = known_hosts_name(ep.host, ep.port)
    if verdict.status == "changed":
        raise host_key_changed(host.name, name, key, verdict.recorded, verdict.where)
    new = verdict.status == "unknown"
    if new and not accept(NewKey(name, key.get_algorithm(), fingerprint(key))):
        raise HostKeyUnknown(
            f"the host key of {host.name} ({name}) was not accepted; nothing was recorded",
            "check the fingerprint with the host's administrator, then run the command again "
            "and accept it (or pass --accept-new-host-key)",
        )
    async with await connect(host, store, accept_key=key if new else None) as s:
        probe = bootstrap.parse_probe(
            str((await s.run(bootstrap.PROBE, what="looking at the host")).stdout)
        )
    host = store.add(host, replace=replace)
    if new:
        keys.record(ep.host, ep.port, key)
    return Enrolled(
        host,
        "accepted" if new else "known",
        fingerprint(key),
        probe.uname,
        probe.on_path or probe.orbit_copy,
    )


def forget(store: HostStore, name: str) -> tuple[RemoteHost, int]:
    """Remove a host, and the keys Orbit recorded for it unless another host shares them."""
    host = store.remove(name)
    ep = endpoint(host)
    still_used = any(
        endpoint(h).host == ep.host and endpoint(h).port == ep.port for h in store.hosts()
    )
    removed = 0 if still_used else host_keys(store, ep).forget(ep.host, ep.port)
    return host, removed
