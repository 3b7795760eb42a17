"""Keep slow, unused imports out of Orbit's processes.

``rfc3987_syntax`` builds a parser grammar when imported (1.5–2.5 s here). jsonschema imports it,
when installed, only to check the "iri" formats, which no Jupyter or nbformat schema uses; it is
pulled in through jupyter_events and nbformat on every server start and every local run.
"""

from __future__ import annotations

import sys


def skip_unused() -> None:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
