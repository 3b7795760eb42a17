"""Golden files: a render compared with the text kept beside its test
(``ORBIT_UPDATE_GOLDEN=1`` rewrites them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def golden_in(folder: Path) -> Callable[[str, str], None]:
    """``golden(name, text)``: ``text`` must equal the file ``folder/name``."""

    def golden(name: str, text: str) -> None:
        path = folder / name
        if os.environ.get("ORBIT_UPDATE_GOLDEN") == "1":
            path.write_text(text)
        assert path.exists(), f"no golden file {name}: run with ORBIT_UPDATE_GOLDEN=1 to write it"
        assert text == path.read_text(), (
            f"{name} changed; if meant, rerun with ORBIT_UPDATE_GOLDEN=1"
        )

    return golden
