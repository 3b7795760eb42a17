"""The date fit's versions kept for the build: the build's resolve asks the index only when
uv's cache does not give exactly them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_orbit.ecosystems import pypi_answers
from jupyter_orbit.model import EnvSpec, Requirement
from tests.conftest import Orbit, make_notebook


def _spec(*names: str) -> EnvSpec:
    reqs = tuple(Requirement("pypi", n, n) for n in names)
    return EnvSpec(python="3.11", requirements=reqs, as_of="2025-06-01T00:00:00Z")


def test_the_question_names_everything_that_changes_the_answer(tmp_path: Path):
    spec = _spec("numpy", "six")
    asked = pypi_answers.key(spec, "3.11.7")
    assert asked == pypi_answers.key(_spec("six", "numpy"), "3.11.7")  # order does not matter
    assert asked != pypi_answers.key(spec, "3.11.8")
    assert asked != pypi_answers.key(replace(spec, as_of="2025-06-02T00:00:00Z"), "3.11.7")
    assert asked != pypi_answers.key(replace(spec, floating=("ipykernel",)), "3.11.7")
    assert asked != pypi_answers.key(replace(spec, wheels_only=True), "3.11.7")
    pypi_answers.remember(asked, "numpy==2.2.6\nsix==1.17.0\n")
    known = pypi_answers.recall(asked)
    assert known == {"numpy==2.2.6", "six==1.17.0"}
    assert pypi_answers.same("--index-url x\nnumpy==2.2.6\n    # via y\nsix==1.17.0\n", known)
    assert not pypi_answers.same("numpy==2.2.5\nsix==1.17.0\n", known)


@pytest.mark.integration
def test_a_build_asks_the_index_once_for_what_the_fit_resolved(orbit: Orbit, tmp_path: Path):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "import six; print(six.__name__)",
        metadata={"orbit": {"as_of": "2025-06-01", "packages": {"pypi": ["six"]}}},
    )
    trace = tmp_path / "uv.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "run", str(nb), "--yes", "--no-server"],
        env={**orbit.env, "ORBIT_UV_TRACE": str(trace)},  # every uv call, one JSON line each
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and r.stdout == "six\n", r.stderr
    calls = [json.loads(line)["args"] for line in trace.read_text().splitlines()]
    venv = next(i for i, a in enumerate(calls) if a[0] == "venv")
    compiles = [a for a in calls[venv:] if a[:2] == ["pip", "compile"]]
    assert len(compiles) == 1 and "--offline" in compiles[0], compiles  # the fit's answer
