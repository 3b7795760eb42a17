"""Old releases whose metadata uv cannot read are mended, so uv stops skipping them."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.ecosystems.pypi import PYPI
from jupyter_orbit.ecosystems.pypi_metadata import MetadataRepairs, mend
from jupyter_orbit.paths import Paths
from jupyter_orbit.uvcli import run_uv


@pytest.mark.parametrize(
    ("text", "mended"),
    [
        ("pytz (>=2011k)", "pytz>=2011"),
        ("numpy (>=1.12.0)", "numpy>=1.12.0"),
        ('py; implementation_name === "pypy"', 'py; implementation_name == "pypy"'),
        ("six", "six"),
        ("not a requirement at all (", None),
    ],
)
def test_requirements_are_mended_or_dropped(text, mended):
    assert mend(text) == mended


def test_nothing_to_repair_writes_nothing(tmp_path: Path):
    repairs = MetadataRepairs(Paths(tmp_path), PYPI)
    assert repairs.repair("Resolved 3 packages in 10ms") is False
    assert repairs.args() == [] and not repairs.file.exists()


@pytest.mark.integration
def test_old_pandas_is_no_longer_skipped(tmp_path: Path):
    """pandas before 0.25 asks for ``pytz (>=2011k)``: uv skips every such release and takes
    pandas 0.13.1, to be built from source. Mended, the pandas of the date is taken."""
    repairs = MetadataRepairs(Paths(tmp_path / "home"), PYPI)
    args = ["pip", "compile", "-", "--no-header", "--no-annotate", "--python-version", "3.6"]
    args += ["--exclude-newer", "2018-12-11T00:00:00Z", "--no-build", "-v"]
    said: list[str] = []
    with pytest.raises(Exception):  # noqa: B017 - uv refuses, whatever the wording
        run_uv(args, cwd=tmp_path, stdin="pandas\n", on_line=said.append)
    assert repairs.unread("\n".join(said)) >= {("pandas", "0.23.4")}

    assert repairs.repair("\n".join(said)) is True
    text = repairs.file.read_text()
    assert 'name = "pandas"' in text and '"pytz>=2011"' in text and "2011k" not in text
    out = run_uv([*args, *repairs.args()], cwd=tmp_path, stdin="pandas\n")
    assert "pandas==0.23.4" in out.split()
    assert repairs.repair("\n".join(said)) is False  # known already: nothing new
