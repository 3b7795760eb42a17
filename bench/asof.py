"""What dating a resolution costs, next to what a user would otherwise run.

1. Finding the date: Orbit's ``resolve()`` for a notebook in a git repository (the git date:
   four read-only git calls) versus the same notebook once stamped (no git at all), and
   ``git log -1`` alone, the least anyone can run to learn the date.
2. Stamping: ``orbit stamp NB DATE`` versus ``juv stamp NB --date DATE``.
3. Resolving as of 2021 with the kernel floating (Orbit: the kernel's own packages resolved
   first, then ``--exclude-newer`` plus ``--exclude-newer-package`` for each) versus one plain
   ``uv pip compile --exclude-newer`` of the same requirements, which dates ipykernel too.

Run: ``.venv/bin/python bench/asof.py`` (needs PyPI for part 3; caches warmed by a first run).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import make_notebook  # noqa: E402
from tests.support.gitrepo import commit_all, init  # noqa: E402

from jupyter_orbit.resolve import resolve  # noqa: E402
from jupyter_orbit.uvcli import uv_bin  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "7"))


def median_of(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(*cmd: str, cwd: Path | None = None, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr[-500:]}")
    return r.stdout


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = init(root / "repo")
        (repo / "requirements.txt").write_text("pandas\n")
        nb = make_notebook(
            repo / "nb.ipynb", '# /// script\n# dependencies = ["pandas"]\n# ///\nimport pandas'
        )
        commit_all(repo, "2021-06-01T12:00:00Z")

        git_ms = median_of(lambda: resolve(nb, default_python="3.11")) * 1000
        plain_git = (
            median_of(lambda: run("git", "log", "-1", "--format=%cI", "--", "nb.ipynb", cwd=repo))
            * 1000
        )
        stamped = root / "stamped.ipynb"
        shutil.copy(nb, stamped)
        run(sys.executable, "-m", "jupyter_orbit", "stamp", str(stamped), "2021-06-01")
        stamp_ms = median_of(lambda: resolve(stamped, default_python="3.11")) * 1000
        rows += [
            ("resolve(), date from git", f"{git_ms:.1f} ms", f"{git_ms / stamp_ms:.2f}x stamped"),
            ("resolve(), date from the stamp", f"{stamp_ms:.1f} ms", "1.00x"),
            (
                "git log -1 alone (one process)",
                f"{plain_git:.1f} ms",
                f"{plain_git / stamp_ms:.2f}x stamped",
            ),
        ]

        orbit_stamp = median_of(
            lambda: run(
                sys.executable,
                "-m",
                "jupyter_orbit",
                "stamp",
                str(nb),
                "2021-06-0" + str(1 + int(time.time()) % 5),
            )
        )
        juv = shutil.which("juv") or str(Path(sys.executable).parent / "juv")
        juv_stamp = median_of(
            lambda: run(
                juv, "stamp", str(nb), "--date", "2021-06-0" + str(1 + int(time.time()) % 5)
            )
        )
        rows += [
            (
                "orbit stamp NB DATE",
                f"{orbit_stamp * 1000:.0f} ms",
                f"{orbit_stamp / juv_stamp:.2f}x juv",
            ),
            ("juv stamp NB --date DATE", f"{juv_stamp * 1000:.0f} ms", "1.00x"),
        ]

        uv = uv_bin()
        py = sys.executable
        reqs = "pandas\nipykernel\n"
        cutoff = "2021-06-01T00:00:00Z"
        base = [
            uv,
            "pip",
            "compile",
            "-",
            "--python",
            py,
            "--no-header",
            "--no-annotate",
            "--quiet",
            "--no-config",
        ]

        def naive() -> str:
            return run(*base, "--exclude-newer", cutoff, stdin=reqs)

        def floating() -> str:
            own = run(*base, stdin="ipykernel\n")
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            names = {ln.split("==")[0] for ln in own.splitlines() if "==" in ln} - {"pandas"}
            extra = [a for n in sorted(names) for a in ("--exclude-newer-package", f"{n}={now}")]
            return run(*base, "--exclude-newer", cutoff, *extra, stdin=reqs)

        def version(out: str, name: str) -> str:
            return next(ln.split("==")[1] for ln in out.splitlines() if ln.startswith(f"{name}=="))

        t_naive, t_float = median_of(naive, 5), median_of(floating, 5)
        a, b = naive(), floating()
        rows += [
            (
                f"uv pip compile --exclude-newer (ipykernel {version(a, 'ipykernel')}, pandas {version(a, 'pandas')})",
                f"{t_naive * 1000:.0f} ms",
                "1.00x",
            ),
            (
                f"Orbit, kernel floating (ipykernel {version(b, 'ipykernel')}, pandas {version(b, 'pandas')})",
                f"{t_float * 1000:.0f} ms",
                f"{t_float / t_naive:.2f}x",
            ),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'median':>9}  ratio")
    for what, median, ratio in rows:
        print(f"{what:<{width}}  {median:>9}  {ratio}")


if __name__ == "__main__":
    main()
