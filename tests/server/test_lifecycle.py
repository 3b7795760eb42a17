"""Starting a server: a stop signal that lands while the server process is being created (after
the fork, before ``Popen`` returns its pid) still leaves no server and no token file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_orbit.model import Environment
from jupyter_orbit.paths import Paths
from jupyter_orbit.server import lifecycle


class _Stopped(Exception):
    pass


@pytest.fixture
def stop_raises() -> Iterator[None]:
    """SIGTERM raises, as `orbit up` in the foreground has it (cli/_server.foreground_signals)."""

    def stop(signum: int, frame: object) -> None:
        raise _Stopped

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_stop_while_the_process_is_created_leaves_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_raises: None
):
    created: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen_then_stop(*args: object, **kwargs: object) -> subprocess.Popen:
        proc = real_popen(*args, **kwargs)  # the child exists: a real server starting
        created.append(proc)
        os.kill(os.getpid(), signal.SIGTERM)  # lands before Popen has returned the pid
        return proc

    monkeypatch.setattr(lifecycle.subprocess, "Popen", popen_then_stop)
    paths = Paths(tmp_path / "home")
    profile = paths.profile()
    server = lifecycle.ServerLaunch(
        Environment("local", "x", Path(sys.prefix), Path(sys.executable))
    )
    with pytest.raises(_Stopped):
        lifecycle.start(paths, profile, tmp_path, server=server, timeout=60)
    (proc,) = created
    assert proc.returncode is not None  # stopped and reaped
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of its session is left
    assert not list(profile.token_file.parent.glob(profile.token_file.name + "*"))
