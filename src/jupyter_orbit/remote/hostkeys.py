"""Host keys: checked against the user's known_hosts files and Orbit's own for the profile.

A key that no file knows is never accepted silently: ``orbit remote add`` shows its fingerprint
and records it in the profile's ``known_hosts`` only when the user says yes (or passes
``--accept-new-host-key``). A host whose key differs from a recorded one is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_orbit import atomic
from jupyter_orbit.remote._lib import asyncssh


def known_hosts_name(host: str, port: int | None) -> str:
    """How OpenSSH's known_hosts names ``host`` reached on ``port``."""
    return host if port in (None, 22) else f"[{host}]:{port}"


def user_known_hosts(config_files: Sequence[str] = ()) -> list[Path]:
    """The user's known_hosts files: those the SSH config names, else OpenSSH's defaults."""
    files = [Path(f).expanduser() for f in config_files] or [
        Path("~/.ssh/known_hosts").expanduser(),
        Path("~/.ssh/known_hosts2").expanduser(),
    ]
    files += [Path("/etc/ssh/ssh_known_hosts"), Path("/etc/ssh/ssh_known_hosts2")]
    return files


@dataclass(frozen=True)
class Verdict:
    status: str  # "known", "unknown" or "changed"
    recorded: tuple[str, ...] = ()  # fingerprints of the keys on record for the host
    where: tuple[str, ...] = ()  # the files those came from


def fingerprint(key: Any) -> str:
    return key.get_fingerprint("sha256")


class HostKeys:
    """The known_hosts files consulted for one profile, and Orbit's own among them."""

    def __init__(self, orbit_file: Path, user_files: Sequence[Path] | None = None) -> None:
        self.orbit_file = orbit_file
        self.user_files = list(user_files) if user_files is not None else user_known_hosts()

    def files(self) -> list[Path]:
        return [
            f for f in [*self.user_files, self.orbit_file] if f.is_file() and os.access(f, os.R_OK)
        ]

    def text(self) -> str:
        return "".join(f.read_text(errors="replace") + "\n" for f in self.files())

    def trusted(self) -> Any:
        """Every file's entries as one asyncssh ``SSHKnownHosts`` (for ``connect``)."""
        return asyncssh().import_known_hosts(self.text())

    def matching(self, host: str, port: int | None) -> list[tuple[Any, Path]]:
        lib = asyncssh()
        port = None if port == 22 else port
        found = []
        for f in self.files():
            try:
                keys = lib.import_known_hosts(f.read_text(errors="replace"))
            except (ValueError, lib.KeyImportError):
                continue
            found += [(k, f) for k in keys.match(host, "", port)[0]]
        return found

    def verdict(self, host: str, port: int | None, key: Any) -> Verdict:
        on_record = self.matching(host, port)
        if not on_record:
            return Verdict("unknown")
        prints = tuple(dict.fromkeys(fingerprint(k) for k, _ in on_record))
        where = tuple(dict.fromkeys(str(f) for _, f in on_record))
        if any(k.public_data == key.public_data for k, _ in on_record):
            return Verdict("known", prints, where)
        return Verdict("changed", prints, where)

    def record(self, host: str, port: int | None, key: Any) -> None:
        """Add ``key`` for ``host`` to Orbit's file (under a lock, replaced atomically)."""
        from filelock import FileLock

        line = f"{known_hosts_name(host, port)} {key.export_public_key().decode().strip()}\n"
        self.orbit_file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.orbit_file) + ".lock"):
            try:
                old = self.orbit_file.read_text()
            except FileNotFoundError:
                old = ""
            if line in old.splitlines(keepends=True):
                return
            atomic.write_text(self.orbit_file, old + line, mode=0o600)

    def forget(self, host: str, port: int | None) -> int:
        """Remove Orbit's entries for ``host``; how many lines went."""
        from filelock import FileLock

        name = known_hosts_name(host, port)
        with FileLock(str(self.orbit_file) + ".lock"):
            try:
                lines = self.orbit_file.read_text().splitlines(keepends=True)
            except FileNotFoundError:
                return 0
            kept = [ln for ln in lines if ln.split(" ", 1)[0] != name]
            if len(kept) != len(lines):
                atomic.write_text(self.orbit_file, "".join(kept), mode=0o600)
            return len(lines) - len(kept)
