"""A kernel's stderr: passed on as before, its last lines kept and told when it dies."""

import io
import subprocess
import sys

from jupyter_orbit.server.fallback import explain
from jupyter_orbit.server.kernel_stderr import StderrTail

SAYS = "import sys\nfor i in range(30): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"


def test_the_last_lines_are_kept_and_every_line_passed_on():
    forwarded = io.BytesIO()
    tail = StderrTail(keep=5, forward=forwarded)
    proc = subprocess.Popen([sys.executable, "-c", SAYS], stderr=tail.fd)
    tail.launched()
    assert proc.wait(timeout=60) == 3
    assert tail.lines() == [f"line {i}" for i in range(25, 30)]
    assert forwarded.getvalue().decode().splitlines() == [f"line {i}" for i in range(30)]


def test_the_explaining_kernel_shows_them():
    text = explain(
        {
            "error": "the kernel exited as it started (exit code 3)",
            "hint": "fix what its last lines on stderr say, then restart the kernel",
            "stderr": ["Traceback (most recent call last):", "ImportError: frobnicate"],
            "kind": "KernelDied",
        }
    )
    assert text.startswith("This notebook's kernel could not start:\n\n  the kernel exited")
    assert "Its last lines on stderr:\n\n  Traceback (most recent call last):\n" in text
    assert "  ImportError: frobnicate\n\nFix: fix what its last lines" in text
    building = explain({"error": "no package named x", "hint": "check the name"})
    assert building.startswith("Orbit could not prepare this notebook's environment:")
    assert "stderr" not in building
