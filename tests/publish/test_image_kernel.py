"""The launcher inside a published image (image_kernel): a kernel starts in the environment of
the notebook the server names, and a notebook it does not know gets the project's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jupyter_orbit.publish import image_kernel

TABLE = {
    "roots": ["/opt/orbit/project", "/home/jovyan"],
    "defaults": {"python3": "e0", "bash": "b0"},
    "environments": {
        "e0": {"kernelspec": "python3", "argv": ["/e0/python", "-f", "{connection_file}"]},
        "e1": {"kernelspec": "python3", "argv": ["/e1/python"], "env": {"PATH": "/e1/bin"}},
        "b0": {"kernelspec": "bash", "argv": ["/b0/python", "-m", "bash_kernel"]},
    },
}
NOTEBOOKS = {"sub/a.ipynb": "e1", "b.ipynb": "b0"}


def test_the_notebook_the_server_names_picks_its_environment():
    choose = image_kernel.choose
    assert choose("python3", "/opt/orbit/project/sub/a.ipynb", TABLE, NOTEBOOKS) == "e1"
    assert choose("python3", "sub/a.ipynb", TABLE, NOTEBOOKS) == "e1"  # relative to the root
    assert choose("python3", "/home/jovyan/sub/a.ipynb", TABLE, NOTEBOOKS) == "e1"  # a hub's copy
    assert choose("python3", "/opt/orbit/project/./sub//a.ipynb", TABLE, NOTEBOOKS) == "e1"


def test_unknown_notebooks_and_other_kernels_get_the_projects_environment():
    choose = image_kernel.choose
    assert choose("python3", "/opt/orbit/project/new.ipynb", TABLE, NOTEBOOKS) == "e0"
    assert choose("python3", "", TABLE, NOTEBOOKS) == "e0"  # no session (a console)
    assert choose("python3", "/etc/sub/a.ipynb", TABLE, NOTEBOOKS) == "e0"  # outside the roots
    assert choose("python3", "/opt/orbit/project/b.ipynb", TABLE, NOTEBOOKS) == "e0"  # bash's
    assert choose("bash", "/opt/orbit/project/b.ipynb", TABLE, NOTEBOOKS) == "b0"


def test_the_command_fills_in_the_connection_file_and_variables():
    argv, env = image_kernel.command(TABLE["environments"]["e1"], "/run/k.json")
    assert argv == ["/e1/python"] and env["PATH"] == "/e1/bin"
    argv, _ = image_kernel.command(TABLE["environments"]["e0"], "/run/k.json")
    assert argv == ["/e0/python", "-f", "/run/k.json"]


def test_it_execs_the_kernel_with_the_notebooks_environment(tmp_path: Path):
    """Run as the image runs it (python3 -I, files where the image keeps them)."""
    table = {
        "roots": [str(tmp_path)],
        "defaults": {"python3": "e0"},
        "environments": {
            "e0": {"kernelspec": "python3", "argv": ["/bin/echo", "default"]},
            "e1": {
                "kernelspec": "python3",
                "argv": ["/bin/sh", "-c", 'echo "$WHICH {connection_file}"'],
                "env": {"WHICH": "e1"},
            },
        },
    }
    source = Path(image_kernel.__file__).read_text()
    source = source.replace(image_kernel.TABLE, str(tmp_path / "kernels.json"))
    source = source.replace(image_kernel.NOTEBOOKS, str(tmp_path / "notebooks.json"))
    (tmp_path / "launcher.py").write_text(source)
    (tmp_path / "kernels.json").write_text(json.dumps(table))
    (tmp_path / "notebooks.json").write_text(json.dumps({"a.ipynb": "e1"}))

    def launch(session: str) -> str:
        env = {**os.environ, "JPY_SESSION_NAME": session}
        r = subprocess.run(
            [sys.executable, "-I", tmp_path / "launcher.py", "python3", "/run/c.json"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert launch(str(tmp_path / "a.ipynb")) == "e1 /run/c.json"
    assert launch(str(tmp_path / "other.ipynb")) == "default"
