"""orbit publish on the command line: what it needs said clearly before anything is read or
built, and Binder files through the command (no engine needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_notebook


def orbit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env.update(ORBIT_HOME=str(tmp_path / "orbit-home"), HOME=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "publish", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


def orbit_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str
) -> tuple[int, str]:
    """The same command line (``main``, which turns errors into messages and exit codes), in
    this process: (exit code, stderr)."""
    from jupyter_orbit.cli import main

    for key in list(os.environ):
        if key.startswith(("ORBIT_", "JUPYTER_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ORBIT_HOME", str(tmp_path / "orbit-home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["orbit", "publish", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to publish"),
        (("--push", "127.0.0.1:5000"), "--push and --app go with --image"),
        (("--app", "voila", "a.ipynb"), "--push and --app go with --image"),
        (("--z2jh", "k8s"), "--z2jh needs the image its users run"),
        (("--pin",), "--pin goes with --binder"),
        (("--image", "x", "--app", "voila", "a.ipynb", "--z2jh", "k8s"), "--z2jh serves"),
    ],
)
def test_what_is_missing_is_said_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args, message
):
    project = tmp_path / "p"
    make_notebook(project / "a.ipynb", "1")
    code, stderr = orbit_here(tmp_path, monkeypatch, capsys, str(project), *args)
    assert code == 2, stderr
    assert message in stderr and "hint:" in stderr
    assert sorted(p.name for p in project.iterdir()) == ["a.ipynb"]
    assert not (tmp_path / "k8s").exists()


def test_an_image_name_docker_would_refuse_is_refused_before_building(tmp_path: Path):
    project = tmp_path / "p"
    make_notebook(project / "a.ipynb", "1", metadata={"orbit": {"as_of": "2025-06-01"}})
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.publish.image import check_name

    for bad in ("Demo", "a b", "demo:", "../demo", "demo:-x"):
        with pytest.raises(InputError, match="not an image name"):
            check_name(bad)
    assert check_name("demo") == "demo:latest"
    assert check_name("127.0.0.1:5000/team/demo:1.0") == "127.0.0.1:5000/team/demo:1.0"


def test_binder_files_through_the_command(tmp_path: Path):
    project = tmp_path / "p"
    (project).mkdir()
    (project / "requirements.txt").write_text("six\n")
    make_notebook(project / "a.ipynb", "import six", metadata={"orbit": {"as_of": "2025-06-01"}})
    r = orbit(tmp_path, str(project), "--binder", str(tmp_path / "repo"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["binder"]
    assert str(tmp_path / "repo" / "binder" / "requirements.txt") in out["written"]
    assert (tmp_path / "repo" / "a.ipynb").exists()
    r = orbit(tmp_path, str(project), "--binder")  # into the project itself
    assert r.returncode == 0, r.stderr
    assert f"wrote {project / 'binder' / 'runtime.txt'}" in r.stdout
