"""Attacks on the engines that run kernels elsewhere and on the hub's settings:

- a notebook that names a gateway the user never added (to get its code, and the user's
  gateway token, sent there) is refused before any request leaves;
- a local process without the kernel's key cannot drive a gateway kernel through the bridge's
  ports;
- hub settings that would hand users' containers the container engine, or publish the hub
  beyond loopback, are refused and change nothing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from tests.conftest import make_notebook


def _listener() -> tuple[socket.socket, list[str]]:
    """A TCP port that notes every connection made to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    seen: list[str] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            seen.append("connection")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return sock, seen


def test_a_notebook_cannot_send_its_kernel_to_a_gateway_nobody_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, prepare
    from jupyter_orbit.remote.hosts import Gateway, HostStore

    monkeypatch.delenv("ORBIT_PROFILE", raising=False)
    paths = Paths(tmp_path / "orbit-home")
    store = HostStore.of(paths.profile("default"))
    store.add_gateway(Gateway("site", "https://gateway.example.org"), "the-users-token")
    evil, seen = _listener()
    url = f"http://127.0.0.1:{evil.getsockname()[1]}"
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb", "1", metadata={"orbit": {"engine": f"gateway:{url}"}}
    )
    try:
        for until in ("lookup", "launch"):
            with pytest.raises(InputError, match="no gateway") as err:
                prepare(nb, Choices(as_of="2025-06-01"), paths, until=until)  # type: ignore[arg-type]
            assert "orbit remote add" in (err.value.hint or "")
    finally:
        evil.close()
    assert seen == []  # not even a connection, let alone the token


def test_messages_not_signed_with_the_kernels_key_do_not_reach_the_gateway(tmp_path: Path):
    import zmq
    from jupyter_client.session import Session

    from jupyter_orbit.remote.gateway_kernel import Bridge, _parse
    from jupyter_orbit.remote.hosts import Gateway, HostStore

    profile = tmp_path / "profile"
    HostStore(profile).add_gateway(Gateway("site", "http://127.0.0.1:9"), "t")
    ports = {}
    for name in ("shell", "iopub", "stdin", "control", "hb"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports[f"{name}_port"] = s.getsockname()[1]
    key = "a3f1" * 8
    conn = {**ports, "ip": "127.0.0.1", "transport": "tcp", "key": key,
            "signature_scheme": "hmac-sha256"}  # fmt: skip
    (tmp_path / "kernel.json").write_text(json.dumps(conn))
    args = _parse(
        ["--profile-root", str(profile), "--gateway", "site", "--kernelspec", "python3",
         "--connection-file", str(tmp_path / "kernel.json")]
    )  # fmt: skip

    async def scenario() -> list[str]:
        bridge = Bridge(args)
        bridge._bind()
        pump = asyncio.ensure_future(bridge._from_local("shell"))
        ctx = zmq.asyncio.Context()
        client = ctx.socket(zmq.DEALER)
        client.connect(f"tcp://127.0.0.1:{ports['shell_port']}")
        try:
            forged = Session(key=b"not-the-key")
            forged.send(client, "execute_request", {"code": "import os; os.system('id')"})
            honest = Session(key=key.encode())
            honest.send(client, "kernel_info_request", {})
            got = await asyncio.wait_for(bridge.outgoing.get(), 10)
            await asyncio.sleep(0.5)
            rest = []
            while not bridge.outgoing.empty():
                rest.append(bridge.outgoing.get_nowait())
            return [m["header"]["msg_type"] for m in [got, *rest]]
        finally:
            pump.cancel()
            client.close(0)
            for s in bridge.sockets.values():
                s.close(0)

    import zmq.asyncio

    assert asyncio.run(scenario()) == ["kernel_info_request"]


@pytest.mark.parametrize(
    ("key", "canonical", "raw", "value"),
    [
        (
            "DockerSpawner.volumes",
            "DockerSpawner.volumes",
            '{"/var/run/docker.sock": "/var/run/docker.sock"}',
            {"/var/run/docker.sock": "/var/run/docker.sock"},
        ),
        ("Spawner.extra_host_config", "DockerSpawner.extra_host_config", '{"pid_mode": "host"}',
         {"pid_mode": "host"}),
        ("SwarmSpawner.host_ip", "DockerSpawner.host_ip", "0.0.0.0", "0.0.0.0"),
        ("JupyterHub.bind_url", "JupyterHub.bind_url", "http://0.0.0.0:8000", "http://0.0.0.0:8000"),
    ],
)  # fmt: skip
def test_hub_settings_that_hand_over_the_host_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key, canonical, raw, value
):
    """Whatever class section names it: the hub's image says which setting it is (faked here at
    that one seam), Orbit's rules refuse it, and the stored settings stay as they were."""
    from jupyter_orbit.hub import hubconfig

    folder = tmp_path / "hub"
    hubconfig._save(folder, {"Spawner.mem_limit": {"value": 1, "canonical": "Spawner.mem_limit"}})
    before = hubconfig.settings_path(folder).read_bytes()

    def image_says(client, image, request):
        [item] = request["check"]
        return {
            "results": [{"key": item["key"], "ok": True, "value": value, "canonical": canonical}]
        }

    monkeypatch.setattr(hubconfig, "ask", image_says)
    with pytest.raises(InputError, match="cannot be set for the hub"):
        hubconfig.set_value(None, "orbit-hub:x", folder, key, raw)
    assert hubconfig.settings_path(folder).read_bytes() == before
