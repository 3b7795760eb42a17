"""Packages that break a kernel on purpose, for tests of what the user is then told."""

from __future__ import annotations

from tests.support.pypi_index import LocalIndex

# Installed into an environment, this makes every kernel started there exit at once, saying why
# on stderr (as a broken package or a missing library would); other Pythons there still run.
DIES = (
    "import os, sys; exec(\"if 'ipykernel_launcher' in ' '.join(getattr(sys, 'orig_argv', [])):"
    "\\n sys.stderr.write('orbit-test: refusing to start\\\\nImportError: frobnicate\\\\n')"
    '\\n sys.stderr.flush()\\n os._exit(3)")\n'
)
STDERR = ["orbit-test: refusing to start", "ImportError: frobnicate"]


def add_dies_at_start(index: LocalIndex) -> None:
    """``orbit-dies-at-start``: a kernel in an environment with it exits as it starts."""
    index.add("orbit-dies-at-start", "1.0", {"orbit_dies_at_start.pth": DIES})
