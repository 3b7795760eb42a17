"""`orbit env`: what a notebook declares of the machine and whether this one has it, and the
torch build the profile's [hardware] table leads to (real CLI, fresh homes, nothing built)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit.hardware.detect import detect
from tests.conftest import make_notebook


def orbit_env(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env["UV_OFFLINE"] = "1"  # what is shown, not the fit to a date: no index is asked
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "env", *args],
        env={**env, "ORBIT_HOME": str(tmp_path / "orbit-home"), "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def no_gpu_here() -> None:
    if detect(kinds=("gpu",)).gpus():
        pytest.skip("this machine has a GPU")


def test_needs_and_no_gpu_here_in_json_and_text(tmp_path: Path, no_gpu_here: None):
    nb = make_notebook(
        tmp_path / "proj" / "train.ipynb",
        "1",
        metadata={"orbit": {"hardware": {"gpu": 2, "visa": "TCPIP0::10.0.0.9::INSTR"}}},
    )
    r = orbit_env(tmp_path, str(nb), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    hw = doc["hardware"]
    assert hw["needs"] == {"gpu": {"vendor": None, "count": 2}, "visa": ["TCPIP0::10.0.0.9::INSTR"]}
    assert hw["ok"] is False and hw["gpus"] == []
    assert hw["problems"][0]["message"].startswith("no GPU here: metadata.orbit.hardware.gpu")
    # the pipeline's refusal is the report's problem too; what was resolved is still shown
    assert doc["problem"]["error"] == hw["problems"][0]["message"]
    assert doc["spec"]["kernel"] == "python" and doc["plan"] is None

    text = orbit_env(tmp_path, str(nb))
    assert text.returncode == 0, text.stderr
    assert "hardware  2 GPUs, VISA TCPIP0::10.0.0.9::INSTR: not here" in text.stdout
    assert "✗ no GPU here" in text.stdout and "hint: run it on a machine with a GPU" in text.stdout


def test_nothing_declared_shows_no_hardware(tmp_path: Path):
    nb = make_notebook(tmp_path / "proj" / "nb.ipynb", "1")
    doc = json.loads(orbit_env(tmp_path, str(nb), "--json").stdout)
    assert doc["hardware"] is None and doc["problem"] is None


def test_the_profiles_torch_index_is_shown_as_the_profiles(tmp_path: Path):
    profile = tmp_path / "orbit-home" / "profiles" / "default"
    profile.mkdir(parents=True)
    (profile / "profile.toml").write_text(
        '[server]\npython = "3.11"\njupyterlab = "4.2.0"\n\n'
        '[hardware.torch_indexes]\ncpu = "https://download.pytorch.org/whl/cpu"\n'
    )
    nb = make_notebook(
        tmp_path / "proj" / "nb.ipynb",
        "import torch",
        metadata={"orbit": {"packages": {"pypi": ["torch"]}}},
    )
    doc = json.loads(orbit_env(tmp_path, str(nb), "--json").stdout)
    option = "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert doc["spec"]["index_options"] == [option]
    assert doc["source_changing"] == []  # the user's own configuration, not the project's
    assert doc["hardware"]["accelerator"]["variant"] == "cpu"
    text = orbit_env(tmp_path, str(nb)).stdout
    assert "torch/jax  cpu: no GPU for this kernel" in text and f"profile index: {option}" in text
    assert "source option" not in text
