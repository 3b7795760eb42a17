"""How many notebooks of the old-notebook corpus (tests/corpus/) run with no flags.

    .venv/bin/python bench/corpus.py                       # this checkout's orbit
    .venv/bin/python bench/corpus.py --orbit /path/to/other/.venv/bin/orbit --label before
    .venv/bin/python bench/corpus.py --only pipfile-2019,conda-2018

Each entry is planted as a git repository committed at its original date (as a clone of it
would be), then ``orbit run NOTEBOOK --yes`` runs in a fresh ORBIT_HOME (uv's cache is shared,
as a user's is). It prints a Markdown table (entry, result, seconds, the first line of the
error) and writes the raw results to bench/results/corpus-<label>-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.corpus import entries, plant  # noqa: E402


def run_one(orbit: str, entry, work: Path, timeout: float) -> dict:
    nb = plant(entry, work / "repos")
    home = work / "homes" / entry.name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env["ORBIT_HOME"] = str(home)
    started = time.perf_counter()
    try:
        r = subprocess.run(
            [orbit, "run", str(nb), "--yes", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=work,
        )
        code, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired:
        code, err = -1, f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - started
    lines = [ln for ln in err.splitlines() if ln.strip()]
    first = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
    return {
        "entry": entry.name,
        "ran": code == 0,
        "code": code,
        "seconds": round(seconds, 1),
        "error": first.strip()[:300] if code else "",
        "expected": entry.expect,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orbit", default=str(Path(sys.executable).parent / "orbit"))
    parser.add_argument("--label", default="after")
    parser.add_argument("--only", default="")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    chosen = [e for e in entries() if not args.only or e.name in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="orbit-corpus-"))
    results = []
    try:
        for entry in chosen:
            print(f"{entry.name} …", file=sys.stderr, flush=True)
            results.append(run_one(args.orbit, entry, work, args.timeout))
            print(f"  {results[-1]}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ran = sum(r["ran"] for r in results)
    print(f"## corpus ({args.label}): {ran} of {len(results)} run with no flags\n")
    print("| entry | ran | s | error |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['entry']} | {'yes' if r['ran'] else 'no'} | {r['seconds']} | {r['error']} |")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"corpus-{args.label}-{stamp}.json").write_text(
        json.dumps({"label": args.label, "orbit": args.orbit, "results": results}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
