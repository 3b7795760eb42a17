"""py-rattler calls, run in a child process: ``python -m jupyter_orbit.ecosystems._rattler_worker``
reads one JSON request on stdin and writes one JSON answer on stdout.

rattler's background threads can crash the interpreter while it shuts down (a race in its
runtime, seen as a segfault at exit about one run in five), so each request runs in a process
of its own that leaves with ``os._exit`` as soon as its answer is written.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


async def _run(req: dict[str, Any]) -> Any:
    import rattler

    gateway = rattler.Gateway(cache_dir=req["cache"], show_progress=False)
    channels = req["channels"]
    platforms = [rattler.Subdir.current(), rattler.Subdir("noarch")]
    op = req["op"]
    if op == "names":
        return [n.normalized for n in await gateway.names(channels, platforms)]
    if op == "latest":
        latest: dict[str, Any] = {}
        result = await gateway.query(channels, platforms, req["names"], recursive=False)
        for records in result:
            for r in records:
                name = r.name.normalized
                if name not in latest or r.version > latest[name]:
                    latest[name] = r.version
        return {k: str(v) for k, v in latest.items()}
    records = await rattler.solve(channels, req["specs"], gateway=gateway, platforms=platforms)
    if op == "solve":
        return [
            {
                "name": r.name.normalized,
                "version": str(r.version),
                "url": str(r.url),
                "sha256": r.sha256.hex() if r.sha256 else None,
            }
            for r in records
        ]
    if op == "install":
        await rattler.install(
            records,
            req["prefix"],
            cache_dir=req["pkgs"],
            show_progress=False,
            execute_link_scripts=bool(req.get("scripts")),
            # built in a temporary folder, then moved: files carry the prefix they will live at
            alternative_target_prefix=req.get("final_prefix"),
        )
        return len(records)
    raise ValueError(f"unknown op {op}")


def main() -> None:
    try:
        answer = {"ok": True, "value": asyncio.run(_run(json.loads(sys.stdin.read())))}
    except ImportError:
        answer = {"ok": False, "kind": "missing", "error": "py-rattler is not installed"}
    except Exception as e:
        text = str(e).strip() or type(e).__name__
        kind = "unsolvable" if "Cannot solve" in text or "No candidates" in text else "failed"
        answer = {"ok": False, "kind": kind, "error": text}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
