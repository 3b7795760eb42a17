"""One real profile server environment per test session, shared by every fresh ORBIT_HOME.

Each server runs from its profile's server environment (JupyterLab + Orbit, built by uv); built
from scratch that takes about half a minute, which every test with a fresh ORBIT_HOME would
otherwise pay. The seed is built once, by the real ``orbit profile create``, and linked into each
new home under the same content-addressed id, where Orbit finds it as if it had built it there;
tests that build more server environments share its bytecode store too, so each one compiles
only what it adds.
Tests about building server environments use homes without the seed (``bare_orbit``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


class ServerEnvSeed:
    def __init__(self, root: Path, environ: dict[str, str]) -> None:
        self.root = root
        self.environ = environ
        self._env: Path | None = None

    def env(self) -> Path:
        if self._env is None:
            env = {**self.environ, "ORBIT_HOME": str(self.root / "orbit-home")}
            cmd = [sys.executable, "-m", "jupyter_orbit", "profile"]
            r = subprocess.run(
                [*cmd, "create", "seed", "--quiet"], env=env, capture_output=True, text=True
            )
            assert r.returncode == 0, r.stderr
            r = subprocess.run(
                [*cmd, "show", "seed", "--json"], env=env, capture_output=True, text=True
            )
            assert r.returncode == 0, r.stderr
            self._env = Path(json.loads(r.stdout)["server"]["location"])
        return self._env

    def plant(self, home: Path, *, bytecode: bool = False) -> None:
        """Make the seed's environment one of ``home``'s server environments; with
        ``bytecode``, share the seed's bytecode store (content-addressed, made to be shared)
        too, for tests that build more server environments."""
        env = self.env()
        links = {home / "envs" / "server" / env.name: env}
        if bytecode:
            links[home / "envs" / "local" / ".bytecode"] = env.parent.parent / "local" / ".bytecode"
        for link, target in links.items():
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)
