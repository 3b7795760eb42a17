"""Hold a lease on a project's services for as long as a kernel runs, then become the kernel.

``python -I -S service_lease.py LEASES -- KERNEL_ARGV…``: writes ``LEASES/<pid>`` (holding the
process's start time, so a reused pid does not count) and replaces itself with the kernel
(``exec``): the kernel keeps the pid, its signals and its process group, and the lease lives
exactly as long as the kernel. The services' watcher (``service_watch``) stops the services once
no lease is alive.

Standard library only, and no import of Orbit: it starts before every kernel that uses services.
"""

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: service_lease.py LEASES -- COMMAND…", file=sys.stderr)
        return 2
    folder, command = Path(argv[0]), argv[1:]
    if command[:1] == ["--"]:
        command = command[1:]
    try:
        started = Path("/proc/self/stat").read_text().rsplit(")", 1)[-1].split()[19]
    except OSError:
        started = ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / str(os.getpid())).write_text(started)
    except OSError as e:
        print(f"orbit: no lease on the services ({e}); they may stop under it", file=sys.stderr)
    try:
        os.execvp(command[0], command)
    except OSError as e:
        print(f"orbit: cannot run {command[0]}: {e}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
