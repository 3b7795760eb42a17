"""Run a command with no network at all: a new network namespace (``unshare -n``) where only
``lo`` is up, with a fresh HOME, ORBIT_HOME, uv cache and npm cache.

    result = airgapped([sys.executable, "script.py"], base=tmp_path / "offline")

Loopback works inside (servers started there are reachable at 127.0.0.1); nothing else is.
``skip_reason()`` says why a machine cannot do this (not root, no ``unshare`` or ``ip``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# The variables that would reach outside the namespace or into the developer's own setup.
_DROP = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root here"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -n fails here: {probe.stderr.strip()}"
    return None


def fresh_env(base: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    home = base / "home"
    for d in (home, base / "orbit-home", base / "uv-cache", base / "npm-cache"):
        d.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ORBIT_", "JUPYTER_", "UV_", "npm_", "NPM_", "PIP_", "VIRTUAL_ENV"))
        and k not in _DROP
    }
    env.update(
        HOME=str(home),
        ORBIT_HOME=str(base / "orbit-home"),
        UV_CACHE_DIR=str(base / "uv-cache"),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        npm_config_cache=str(base / "npm-cache"),
        npm_config_userconfig=str(home / ".npmrc"),
        npm_config_update_notifier="false",
        npm_config_audit="false",
        npm_config_fund="false",
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PIP_CONFIG_FILE=os.devnull,
    )
    env.update(extra or {})
    return env


def airgapped(
    argv: list[str],
    *,
    base: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a namespace with no network but loopback, with fresh homes under ``base``."""
    cmd = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "airgap", *argv]
    return subprocess.run(
        cmd,
        env=fresh_env(base, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or base,
    )
