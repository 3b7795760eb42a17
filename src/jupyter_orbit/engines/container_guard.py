"""PID 1 of a kernel container (copied into Orbit's base image as /opt/orbit/bin/orbit-guard).

It starts the kernel in a process group of its own, passes signals on to that group (SIGINT is
how Jupyter interrupts a kernel), reaps orphaned processes as an init must, and exits with the
kernel's status. With ``--watch-stdin`` it also stops the kernel when its stdin closes: the
host-side process that started the container holds the other end, so when that process dies,
however it dies, the kernel stops and the container (started with auto-remove) goes away.

Standard library only, and no import of Orbit: it runs on the image's own Python.
"""

import contextlib
import os
import signal
import sys
import threading
import time

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)


def _send(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _stop_when_stdin_closes(pgid: int) -> None:
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    _send(pgid, signal.SIGTERM)
    time.sleep(3)
    _send(pgid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    watch = bool(argv) and argv[0] == "--watch-stdin"
    argv = argv[1:] if watch else argv
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("orbit-guard: no command given", file=sys.stderr)
        return 2
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            print(f"orbit-guard: cannot run {argv[0]}: {e}", file=sys.stderr)
        os._exit(127)
    with contextlib.suppress(OSError):  # the child did it first, or has already exited
        os.setpgid(pid, pid)
    for signum in _FORWARDED:
        signal.signal(signum, lambda s, _f: _send(pid, s))
    if watch:
        threading.Thread(target=_stop_when_stdin_closes, args=(pid,), daemon=True).start()
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            return 0
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
