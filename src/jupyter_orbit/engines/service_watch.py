"""``python -m jupyter_orbit.engines.service_watch ORBIT_HOME PROJECT``: stop a project's
services once the last kernel using them has ended.

Started (detached) by the service runner when it starts a project's services, one per project
(a lock says whether one watches already). Every second it counts the live leases the kernels
hold (``service_lease``); once none has been alive for ``GRACE_SECONDS`` — and no start has
happened meanwhile, which a restarting kernel makes — it stops the services (their data stays
in their volumes) and exits. A kernel killed outright counts as ended: its lease names a process
that is gone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def main(argv: list[str]) -> int:
    from filelock import FileLock, Timeout

    from jupyter_orbit.engines.services import GRACE_SECONDS, STATE_FILE, ServiceRunner, live_leases
    from jupyter_orbit.paths import Paths

    home, key = Path(argv[0]), argv[1]
    runner = ServiceRunner(Paths(home))
    folder = runner.folder(key)
    watching = FileLock(folder / "watch.lock")
    try:
        watching.acquire(timeout=0)
    except Timeout:
        return 0  # another watcher has it
    last_alive = time.time()
    while True:
        time.sleep(1.0)
        try:
            state = json.loads((folder / STATE_FILE).read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("keep"):
            return 0
        now = time.time()
        if live_leases(folder / "leases"):
            last_alive = now
            continue
        if now - max(last_alive, _mtime(folder / "started")) < GRACE_SECONDS:
            continue
        with FileLock(folder / "lock"):  # no start while deciding
            if (
                live_leases(folder / "leases")
                or time.time() - _mtime(folder / "started") < GRACE_SECONDS
            ):
                continue
            try:
                runner.stop(key)
            except Exception as e:  # the engine went away: nothing left to stop
                print(f"orbit: stopping the services of {key} failed: {e}", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
