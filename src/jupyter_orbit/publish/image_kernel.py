"""Start a kernel in the notebook's own environment, in a published image (runs inside the
image, stdlib only; no Orbit there).

The image's kernelspecs keep generic names (``python3``, ``bash`` …) so notebooks open as they
are; each runs this program with its name and the connection file. Jupyter's server tells a
kernel which notebook it is for (``JPY_SESSION_NAME``); the table Orbit wrote at publish time
maps that notebook to its environment. A notebook the table does not know (a new one, a renamed
one) gets the project's environment for that kernel.

    python3 -I image_kernel.py KERNELSPEC CONNECTION_FILE
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
from pathlib import Path

TABLE = "/opt/orbit/share/orbit/kernels.json"  # environments: argv, variables; defaults
NOTEBOOKS = "/opt/orbit/share/orbit/notebooks.json"  # notebook (relative path) → environment


def notebook_path(session: str, roots: list[str]) -> str | None:
    """The notebook's path relative to the project, from what the server says (an absolute
    path, or one relative to the server's root)."""
    if not session:
        return None
    path = posixpath.normpath(session)
    if not posixpath.isabs(path):
        return path
    for root in roots:
        rel = posixpath.relpath(path, root)
        if not rel.startswith(".."):
            return rel
    return None


def choose(kernelspec: str, session: str, table: dict, notebooks: dict) -> str:
    """The environment (id) a kernel of ``kernelspec`` starts in for the session's notebook."""
    rel = notebook_path(session, table.get("roots", []))
    env_id = notebooks.get(rel) if rel else None
    if env_id and table["environments"].get(env_id, {}).get("kernelspec") == kernelspec:
        return env_id
    return table["defaults"][kernelspec]


def command(env: dict, connection_file: str) -> tuple[list[str], dict[str, str]]:
    argv = [a.replace("{connection_file}", connection_file) for a in env["argv"]]
    variables = dict(os.environ)
    variables.update(env.get("env", {}))
    return argv, variables


def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    kernelspec, connection_file = argv
    table = _load(TABLE)
    env_id = choose(kernelspec, os.environ.get("JPY_SESSION_NAME", ""), table, _load(NOTEBOOKS))
    args, variables = command(table["environments"][env_id], connection_file)
    os.execve(args[0], args, variables)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
