"""bench/run-all: the smoke version runs every row of issue 15's table once, end to end.

No timing is asserted (speed is measured by the benchmark, not by tests): the test checks that
the harness and every command it measures still work, and that the report says what it measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_ALL = REPO / "bench" / "run-all"
CACHE = REPO / "bench" / "results" / "cache"  # the anchor venvs, made once (git-ignored)

sys.path.insert(0, str(REPO / "bench"))
import run_all  # noqa: E402

EXPECTED = [
    "`orbit run`, server up",
    "`orbit run --no-server`",
    "env in the warm pool",
    "env built, not pooled",
    "first notebook right after `orbit up`",
    "idle server RSS (with its pool)",
    "idle server RSS, pool off",
    "new environment",
    "notebook(s) / 1 env(s): memory",
    "notebook(s) / 1 env(s): time",
    "hot add until importable",
    "hot add at once after the kernel answered",
    "first `orbit search`, cold",
    "`orbit search`, warm p50",
]


def test_a_failed_row_is_reported_as_failed():
    ok = run_all.Row("a", "1.00 s", "x 2.00 s", "≤ 1 s", True, "2×", "cmd", (1.0, 2.0))
    bad = run_all.Row("b", "–", "–", "–", None, "–", "", error="BenchError: boom")
    assert ok.cells()[4] == "met" and ok.cells()[6] == "1.0 → 2.0"
    assert bad.cells()[4] == "FAILED"


def test_unknown_group_is_refused(capsys):
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nonsense"])
    assert "unknown group" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_smoke_runs_every_row(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env.pop("UV_OFFLINE", None)
    proc = subprocess.run(
        [str(RUN_ALL), "--smoke", "--results", str(tmp_path), "--cache", str(CACHE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    [data_file] = tmp_path.glob("run-all-smoke-*.json")
    data = json.loads(data_file.read_text())
    rows = data["rows"]
    assert [r["error"] for r in rows] == [""] * len(rows)
    for expected in EXPECTED:
        assert any(expected in r["what"] for r in rows), (expected, [r["what"] for r in rows])
    for row in rows:  # every row has Orbit's number, an anchor or a reference, and says how
        assert row["orbit"] not in ("", "–") and row["measured"], row
        assert row["met"] in (True, False) or row["target"] == "–", row  # "–": no target
    assert all(data["versions"][name] != "?" for name in ("papermill", "juv", "jupyterlab"))
    # the report is on stdout (and nothing the measured tools printed), and in the .md file
    [md] = tmp_path.glob("run-all-smoke-*.md")
    assert proc.stdout.startswith("### run-all") and proc.stdout.strip() == md.read_text().strip()
    assert "papermill" in proc.stdout and "JupyterLab" in proc.stdout
