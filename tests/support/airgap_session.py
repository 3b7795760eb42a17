"""Run inside the air-gapped namespace (``tests/support/airgap.py``): start the profile's
server on a notebook, run cells in its kernel — pandas, ``%pip install`` of a bundled package,
``!npm install`` of a bundled tarball, a package that is not bundled — stop the server, and
print what happened as JSON on the last line.

    python -m tests.support.airgap_session ORBIT ROOT NOTEBOOK
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from jupyter_orbit.offline import RECORD
from jupyter_orbit.paths import Paths
from tests.support.kernelws import KernelWS, Server

CELLS = {
    "pandas": "import numpy, pandas; print('sum', int(pandas.Series(numpy.arange(5)).sum()))",
    "data": (
        "import os, pandas; print('rows', len(pandas.read_csv("
        "os.path.join(os.environ['ORBIT_DATA'], 'numbers.csv'))))"
    ),
    "index": "import os; print('index', os.environ.get('PIP_INDEX_URL'))",
    "pip": "%pip install --quiet tomlkit",
    "pip_import": "import tomlkit; print('tomlkit', tomlkit.__version__)",
    "npm": (
        "!mkdir -p /tmp/npm-here && cd /tmp/npm-here && npm install --no-audit --no-fund "
        "is-odd@3.0.1 2>&1 | tail -2 && node -e \"console.log('odd', String(require('is-odd')(3)))\""
    ),
    "pip_missing": "%pip install humanize",
}


async def session(server: Server, notebook: str) -> dict[str, dict]:
    out = {}
    started = server.new_session(notebook)
    async with KernelWS(server, started["kernel"]["id"]) as kernel:
        await kernel.kernel_info(timeout=600)
        for name, code in CELLS.items():
            reply = await kernel.execute(code, timeout=300)
            out[name] = {"status": reply.status, "stdout": reply.stdout, "stderr": reply.stderr}
    return out


def main(orbit: str, root: str, notebook: str) -> None:
    up = subprocess.run(
        [orbit, "up", "--detach", "--no-browser", root], capture_output=True, text=True, timeout=900
    )
    result: dict = {"up": {"rc": up.returncode, "stderr": up.stderr[-3000:]}}
    if up.returncode == 0:
        info = json.loads(up.stdout.strip().splitlines()[-1])
        try:
            result["cells"] = asyncio.run(session(Server(info["url"], info["token"]), notebook))
            # where the server serves the bundles (its stand-ins, while it runs)
            profile = Paths.from_env().profile("default")
            record = profile.runtime_dir / RECORD
            result["record"] = json.loads(record.read_text()) if record.is_file() else None
            log = profile.server_log
            result["log"] = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
        finally:
            down = subprocess.run([orbit, "down"], capture_output=True, text=True, timeout=120)
            result["down"] = down.returncode
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
