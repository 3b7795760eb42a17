"""Orbit's profiles benchmark: a separate Jupyter setup, adding an extension, carrying it over.

What people do otherwise to keep two JupyterLab setups apart is one virtual environment per
setup, made with ``python -m venv`` + ``pip`` or with ``uv``; adding an extension is a ``pip
install`` into it (no check, no way back); carrying it to another machine is ``pip freeze`` and
a new environment from that list. Each is timed here against Orbit's command for the same
thing, on this machine, in one run. See bench/README.md.

    .venv/bin/python bench/profiles.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import benchlib as bl

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
EXTENSION = "jupyterlab-execute-time"
T = 1200  # timeout of one step


def orbit(home: Path, *args: str, expect: str | None = None) -> bl.Done:
    env = bl.tool_env({"ORBIT_HOME": str(home)})
    return bl.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        cwd=home.parent,
        env=env,
        timeout=T,
        expect=expect,
    )


def venv_pip(path: Path, *packages: str) -> float:
    """``python -m venv`` + ``pip install``: the classic way to a separate JupyterLab."""
    a = bl.run([sys.executable, "-m", "venv", str(path)], cwd=path.parent, timeout=T)
    b = bl.run([path / "bin" / "pip", "install", "-q", *packages], cwd=path.parent, timeout=T)
    return a.seconds + b.seconds


def venv_uv(uv: str, path: Path, *packages: str) -> float:
    a = bl.run(
        [uv, "venv", "-q", "--python", sys.executable, str(path)], cwd=path.parent, timeout=T
    )
    b = bl.run(
        [uv, "pip", "install", "-q", "--python", path / "bin" / "python", *packages],
        cwd=path.parent,
        timeout=T,
    )
    return a.seconds + b.seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    uv = bl.require_tools(["uv"])["uv"]
    lab = metadata.version("jupyterlab")
    pin = f"jupyterlab=={lab}"
    series: dict[str, bl.Series] = {}

    def add(key: str, seconds: float) -> None:
        series.setdefault(key, bl.Series(key)).samples.append(seconds)

    tmp = Path(tempfile.mkdtemp(prefix="orbit-bench-profiles-"))
    try:
        # warm every cache once (uv's, pip's, Orbit's bytecode store), untimed
        warm = tmp / "warm"
        warm.mkdir()
        orbit(warm / "home", "profile", "create", "warm", "-q")
        orbit(warm / "home", "ext", "add", EXTENSION, "--profile", "warm", "-q")
        venv_pip(warm / "pip", pin, EXTENSION)
        venv_uv(uv, warm / "uv", pin, EXTENSION)

        for i in range(args.repeat):
            run = tmp / f"run{i}"
            run.mkdir()
            home = run / "home"
            # 1. a new, separate JupyterLab setup
            add(
                "new setup: orbit, first profile in a fresh ORBIT_HOME",
                orbit(home, "profile", "create", "a", "-q").seconds,
            )
            add(
                "new setup: orbit, another profile",
                orbit(home, "profile", "create", "b", "-q").seconds,
            )
            add("new setup: venv + pip", venv_pip(run / "pip", pin))
            add("new setup: uv venv + uv pip", venv_uv(uv, run / "uv", pin))
            # 2. adding an extension (Orbit: resolve, build, trial server, commit)
            add(
                "add extension: orbit ext add",
                orbit(
                    home, "ext", "add", EXTENSION, "--profile", "a", "-q", expect="added"
                ).seconds,
            )
            add(
                "add extension: pip install (in place, unchecked)",
                bl.run(
                    [run / "pip" / "bin" / "pip", "install", "-q", EXTENSION], cwd=run, timeout=T
                ).seconds,
            )
            add(
                "add extension: uv pip install (in place, unchecked)",
                bl.run(
                    [
                        uv,
                        "pip",
                        "install",
                        "-q",
                        "--python",
                        run / "uv" / "bin" / "python",
                        EXTENSION,
                    ],
                    cwd=run,
                    timeout=T,
                ).seconds,
            )
            # 3. a copy of the setup to change separately
            add(
                "copy setup: orbit profile clone", orbit(home, "profile", "clone", "a", "c").seconds
            )
            freeze = bl.run([run / "pip" / "bin" / "pip", "freeze"], cwd=run, timeout=T).stdout
            (run / "req.txt").write_text(freeze)
            add(
                "copy setup: pip freeze + venv + pip install -r",
                venv_pip(run / "pip2", "-r", str(run / "req.txt")),
            )
            # 4. carried to another machine (a fresh home / a fresh venv, warm caches)
            out = run / "a.orbit-profile.toml"
            t_export = orbit(home, "profile", "export", "a", "-o", str(out)).seconds
            t_import = orbit(run / "home2", "profile", "import", str(out), "-q").seconds
            add("carry: orbit export + import (fresh ORBIT_HOME)", t_export + t_import)
            add(
                "carry: uv pip install -r freeze (fresh venv)",
                venv_uv(uv, run / "uv2", "-r", str(run / "req.txt")),
            )
            # 5. how long the server takes to answer, from its server environment
            up = orbit(home, "up", str(run), "--detach", "--no-browser", "--profile", "a")
            add("server start: orbit up (profile with an extension)", up.seconds)
            orbit(home, "down", "--profile", "a")
            print(f"run {i + 1}/{args.repeat} done", file=sys.stderr, flush=True)

        disk = {
            "orbit: 3 profiles (2 server environments)": bl.disk_usage([tmp / "run0" / "home"]),
            "venv + pip: 2 venvs": bl.disk_usage([tmp / "run0" / "pip", tmp / "run0" / "pip2"]),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": bl.capture(["nproc"]),
            "python": platform.python_version(),
            "uv": bl.capture([uv, "--version"]),
            "jupyterlab": lab,
            "load": Path("/proc/loadavg").read_text().split()[:3],
        },
        "repeat": args.repeat,
        "series": {k: s.to_json() for k, s in series.items()},
        "disk_bytes": disk,
    }
    bl.write_json(RESULTS / "profiles.json", result)
    print(json.dumps({k: round(s.median, 2) for k, s in series.items()}, indent=2))
    for k, v in disk.items():
        print(f"{k}: {bl.mib(v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
