"""The server record names a process by pid, start time and command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from jupyter_orbit.state import ServerState, process_identity


def record(pid: int, identity: tuple[str, tuple[str, ...]] | None) -> ServerState:
    start, cmdline = identity or ("", ())
    return ServerState(
        pid=pid,
        url="http://127.0.0.1:1/",
        port=1,
        root_dir="/",
        token="t",
        profile="default",
        started="",
        log="",
        process_start=start,
        cmdline=list(cmdline),  # as read back from JSON
    )


def test_identity_of_a_live_process_and_of_a_gone_one():
    argv = (sys.executable, "-c", "import time; time.sleep(60)")
    child = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10  # until the child has exec'd (a busy machine)
        while (identity := process_identity(child.pid)) and identity[1] != argv:
            assert time.monotonic() < deadline, identity
            time.sleep(0.01)
        assert identity is not None and identity[1] == argv
        assert process_identity(child.pid) == identity  # stable while it lives
        assert record(child.pid, identity).alive()
    finally:
        child.kill()
        child.wait()
    assert process_identity(child.pid) is None
    assert not record(child.pid, identity).alive()


def test_a_record_whose_pid_now_names_another_process():
    me = process_identity(os.getpid())
    assert me is not None
    assert not record(os.getpid(), (str(int(me[0]) + 1), me[1])).alive()  # started later
    assert not record(os.getpid(), (me[0], ("python", "-m", "other"))).alive()
    assert not record(os.getpid(), None).alive()  # a record without an identity
    assert record(os.getpid(), me).cmdline == me[1]
