"""The text of a notebook's ``requirements`` lock, and whether it still fits its spec.

A lock is ``uv pip compile --universal --generate-hashes`` output behind one header line:

    # orbit lock 1; inputs sha256:…; python 3.11; 2026-11-26T08:00:00Z

``inputs`` is the digest of everything in the spec that a resolution depends on (kernel,
python, requirements, constraints, package sources), so editing any of them makes the lock
stale; the date a spec is resolved as of is not part of it (a lock supersedes the date). This
module has no heavy imports: the engine reads it on every build.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import EnvSpec

_HEADER = re.compile(
    r"^# orbit lock (?P<v>\d+); inputs (?P<inputs>sha256:[0-9a-f]+); python (?P<python>[^;\s]+)"
)


def inputs_digest(spec: EnvSpec) -> str:
    identity = spec.identity()
    for key in ("lock", "as_of", "kernel_as_of", "floating", "wheels_only"):
        identity.pop(key, None)
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def header(spec: EnvSpec, python: str, created: str) -> str:
    return f"# orbit lock 1; inputs {inputs_digest(spec)}; python {python}; {created}\n"


def read_header(text: str) -> dict[str, str] | None:
    m = _HEADER.match(text)
    return m.groupdict() if m else None


def is_current(spec: EnvSpec) -> bool:
    """True when ``spec`` carries an Orbit requirements lock made from these very inputs."""
    if spec.lock is None or spec.lock.format != "requirements":
        return False
    head = read_header(spec.lock.text)
    return head is not None and head["inputs"] == inputs_digest(spec)


def pins(text: str) -> list[str]:
    """``name==version ; marker`` lines of a requirements lock, hashes and comments dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        current += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line
        if line.rstrip().endswith("\\"):
            continue
        req = " ".join(t for t in current.split() if not t.startswith("--hash")).strip()
        current = ""
        if req and not req.startswith("-"):
            out.append(req)
    return out


def check_locked(spec: EnvSpec, where: Path) -> None:
    """``--locked``: refuse to run without a lock that fits the spec."""
    if spec.lock is None:
        raise InputError(
            f"{where.name} has no lock", f"lock it with `orbit lock {where}`", path=where
        )
    if spec.lock.format == "requirements" and not is_current(spec):
        raise InputError(
            f"the lock in {where.name} is stale: the packages changed since it was written",
            f"renew it with `orbit lock {where}`, or run without --locked to re-resolve",
            path=where,
        )
