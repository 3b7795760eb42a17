"""A real Jupyter Enterprise Gateway on this machine's loopback, for the gateway engine's tests.

The gateway gets an environment of its own (``jupyter_enterprise_gateway`` and ``ipykernel``,
resolved as of 2025-06-01 by uv), runs its kernels with its default local process proxy, and
asks for a token (given to it through ``EG_AUTH_TOKEN``, not its command line).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

AS_OF = "2025-06-01T00:00:00Z"


@dataclass
class EnterpriseGateway:
    url: str
    token: str
    prefix: Path  # the gateway's own environment (its kernels' sys.prefix)
    log: Path

    def kernels(self) -> list[dict]:
        r = httpx.get(f"{self.url}/api/kernels", headers={"Authorization": f"token {self.token}"})
        r.raise_for_status()
        return r.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def enterprise_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnterpriseGateway]:
    from jupyter_orbit.uvcli import uv_bin

    base = tmp_path_factory.mktemp("gateway")
    prefix = base / "venv"
    env = {**os.environ, "UV_EXCLUDE_NEWER": AS_OF}
    subprocess.run([uv_bin(), "venv", "-q", "--python", "3.11", str(prefix)], check=True, env=env)
    r = subprocess.run(
        [uv_bin(), "pip", "install", "-q", "--python", str(prefix / "bin" / "python"),
         "jupyter_enterprise_gateway", "ipykernel"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot install jupyter_enterprise_gateway: {r.stderr[-500:]}")
    token, port = secrets.token_hex(16), _free_port()
    log = base / "gateway.log"
    config = base / "config"
    config.mkdir()
    gw_env = {
        **os.environ,
        "EG_AUTH_TOKEN": token,
        # Its kernelspec runs "python": the gateway's own environment's.
        "PATH": f"{prefix / 'bin'}:{os.environ.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(prefix / "share" / "jupyter"),
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(prefix / "bin" / "jupyter-enterprisegateway"), "--ip=127.0.0.1",
             f"--port={port}", "--port_retries=0",
             # root runs the tests; the gateway refuses root's kernels by default
             "--EnterpriseGatewayApp.unauthorized_users=nobody",
             "--EnterpriseGatewayApp.list_kernels=True"],  # for the tests to look
            env=gw_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    gateway = EnterpriseGateway(url, token, prefix, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                gateway.kernels()
                break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield gateway
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
