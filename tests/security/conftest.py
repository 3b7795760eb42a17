"""What the attacks in this folder share: a user's secrets to steal, a hostile project, a
running Orbit server, and raw HTTP with headers of the attacker's choosing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import Server

# A request that hangs fails the test through its client timeout (no timing assertion).
BOUND = 20.0


@dataclass
class Secrets:
    """A fake ``~/.ssh`` whose bytes must never be read, written or removed through Orbit."""

    folder: Path
    key: str  # the private key's text: must appear in no response

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.folder)): p.read_bytes()
            for p in sorted(self.folder.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def user_secrets(orbit: Orbit) -> Secrets:
    ssh = orbit.user_home / ".ssh"
    ssh.mkdir(mode=0o700)
    key = f"-----BEGIN OPENSSH PRIVATE KEY----- canary {secrets.token_hex(16)}"
    (ssh / "id_rsa").write_text(key + "\n")
    (ssh / "authorized_keys").write_text("ssh-ed25519 AAAA-original user@host\n")
    return Secrets(ssh, key)


@dataclass
class Raw:
    """An HTTP client to a running server that sends exactly the headers it is given."""

    server: Server

    @property
    def base(self) -> str:
        return self.server.url.rstrip("/")

    def request(
        self, method: str, path: str, *, token: bool = True, headers: dict | None = None, **kw: Any
    ) -> httpx.Response:
        sent = dict(self.server.headers) if token else {}
        sent.update(headers or {})
        return httpx.request(
            method, self.base + path, headers=sent, timeout=BOUND, follow_redirects=False, **kw
        )


def project_with_notebook(root: Path) -> Path:
    make_notebook(root / "nb.ipynb", "print('hello')")
    return root
