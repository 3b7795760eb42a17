"""`orbit hardware`: the real command on this machine, with a simulated instrument."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.devices import SCOPE


def orbit(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "hardware", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_json_lists_the_simulated_instruments_and_this_machine():
    r = orbit("--json", "--visa-backend", f"{SCOPE}@sim")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"devices", "containers", "cuda_version", "notes"}
    visa = [d["path"] for d in doc["devices"] if d["kind"] == "visa"]
    assert "TCPIP0::127.0.0.1::inst0::INSTR" in visa
    for d in doc["devices"]:
        assert d["kind"] in ("gpu", "serial", "visa", "camera")
        assert all({"what", "met", "fix"} <= set(n) for n in d["needs"])


def test_text_output_has_every_section_and_reads_the_env_var():
    r = orbit(env_extra={"ORBIT_VISA_BACKEND": f"{SCOPE}@sim"})
    assert r.returncode == 0, r.stderr
    for title in ("GPUs", "serial ports", "VISA instruments", "cameras"):
        assert title in r.stdout
    assert "TCPIP0::127.0.0.1::inst0::INSTR  TCPIP instrument" in r.stdout
    assert "Traceback" not in r.stderr and "warn" not in r.stderr.lower()


def test_a_broken_visa_backend_is_a_note_not_a_failure():
    r = orbit("--visa-backend", "/nonexistent/visa.so")
    assert r.returncode == 0, r.stderr
    assert "note: VISA:" in r.stdout
