"""Old notebooks run as they did, with no flags: the Python that fits them, found wherever the
machine keeps it (pyenv here), wheels rather than builds, and a kernel of their time.

Real uv, real PyPI, real kernels, real git dates. Every date is fixed (the commits', and the
clock, ``ORBIT_NOW``), so a release published after today cannot change an outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit import pythons
from tests.conftest import Orbit, make_notebook
from tests.support.gitrepo import commit_all, init

pytestmark = pytest.mark.integration

CLOCK = "2026-12-01T00:00:00Z"
PLOT = (
    "%matplotlib inline\n"
    "import sys, matplotlib, matplotlib.pyplot as plt\n"
    "plt.plot([1, 2, 3])\n"
    "print('python', '%d.%d' % sys.version_info[:2], 'matplotlib', matplotlib.__version__)"
)
VERSION = "import sys; print('python', '%d.%d' % sys.version_info[:2])"


def needs(*minors: str) -> None:
    here = pythons.by_minor(pythons.discover())
    missing = [m for m in minors if m not in here]
    if missing:
        pytest.skip(f"needs Python {', '.join(missing)} on this machine (e.g. under pyenv)")


def repo(tmp_path: Path, files: dict[str, str], code: str, date: str) -> Path:
    r = init(tmp_path / "old")
    for name, text in files.items():
        (r / name).write_text(text)
    make_notebook(r / "nb.ipynb", code)
    commit_all(r, date)
    return r / "nb.ipynb"


def env_json(orbit: Orbit, nb: Path, *args: str) -> dict:
    r = orbit.run("env", str(nb), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def built_from_source(cache: Path) -> list[str]:
    """The wheels uv built from source distributions into ``cache`` (a cache of the test's
    own, so nothing else's builds are in it)."""
    return sorted(p.name for folder in cache.glob("sdists-v*") for p in folder.rglob("*.whl"))


def run_with_cache(orbit: Orbit, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**orbit.env, "UV_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=orbit.user_home,
    )


def test_a_2021_notebook_runs_on_a_python_of_its_time_from_wheels(orbit: Orbit, tmp_path: Path):
    needs("3.9")
    orbit.now = CLOCK
    cache = tmp_path / "uv-cache"
    nb = repo(tmp_path, {"requirements.txt": "numpy\nmatplotlib\n"}, PLOT, "2021-06-01T12:00:00Z")

    env = env_json(orbit, nb)
    assert env["spec"]["python"] == "3.9"
    assert env["python_detail"].startswith("3.9: the newest Python as of 2021-06-01")
    assert env["spec"]["wheels_only"] is True

    out_nb = tmp_path / "out.ipynb"
    r = run_with_cache(orbit, cache, "run", str(nb), "--yes", "-o", str(out_nb))
    assert r.returncode == 0, r.stderr
    assert "python 3.9 matplotlib 3.4.2" in r.stdout
    outputs = json.loads(out_nb.read_text())["cells"][0]["outputs"]
    assert {o["output_type"] for o in outputs} == {"stream", "display_data"}  # the plot
    assert any(cache.glob("wheels-v*/pypi/numpy"))  # uv did install, from wheels
    assert built_from_source(cache) == []  # and compiled nothing


def test_a_pipfile_asking_for_python_3_6_runs(orbit: Orbit, tmp_path: Path):
    needs("3.6")
    orbit.now = CLOCK
    pipfile = '[packages]\nsix = "*"\n\n[requires]\npython_full_version = "3.6.8"\n'
    nb = repo(tmp_path, {"Pipfile": pipfile}, VERSION + "\nimport six", "2019-06-26T19:00:00Z")
    env = env_json(orbit, nb)
    assert (env["spec"]["python"], env["python_detail"]) == ("3.6", "3.6: declared in Pipfile")
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    assert "python 3.6" in r.stdout


def test_runtime_txt_asking_for_python_3_10_runs_and_beats_requires_python(
    orbit: Orbit, tmp_path: Path
):
    needs("3.10")
    orbit.now = CLOCK
    files = {
        "runtime.txt": "python-3.10\n",
        "requirements.txt": "six\n",
        "pyproject.toml": '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.12"\n',
    }
    nb = repo(tmp_path, files, VERSION, "2022-06-01T12:00:00Z")
    env = env_json(orbit, nb)
    assert env["spec"]["python"] == "3.10"
    assert any("runtime.txt beats requires-python" in n for n in env["notes"])
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    assert "python 3.10" in r.stdout


def test_matplotlib_inline_stays_with_the_notebooks_matplotlib(orbit: Orbit, tmp_path: Path):
    """Python 3.10 as of December 2021: matplotlib has wheels for it, the kernel's tornado does
    not yet (6.2, July 2022), so the kernel moves forward, but matplotlib-inline, coupled to
    the notebook's matplotlib, stays at the notebook's date."""
    needs("3.10")
    orbit.now = CLOCK
    files = {"runtime.txt": "python-3.10\n", "requirements.txt": "matplotlib\n"}
    nb = repo(tmp_path, files, PLOT, "2021-12-01T12:00:00Z")
    env = env_json(orbit, nb, "--dry-run")
    pins = dict(p.split("==") for p in env["pins"])
    assert "matplotlib-inline" not in env["spec"]["floating"]
    assert {"ipykernel", "tornado"} <= set(env["spec"]["floating"])
    assert (pins["matplotlib"], pins["matplotlib-inline"]) == ("3.5.0", "0.1.3")
    assert pins["tornado"].startswith("6.2")  # the oldest with a wheel for 3.10
    assert "2022-07-03" < env["spec"]["kernel_as_of"] < "2022-08-01"
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    assert "python 3.10 matplotlib 3.5.0" in r.stdout


def test_ipykernel_ipython_and_jupyter_client_move_together(orbit: Orbit, tmp_path: Path):
    """A notebook pinning IPython of 2021 keeps the kernel packages coupled to it (ipykernel,
    and through it jupyter_client and traitlets) at its date; the rest moves."""
    needs("3.10")
    orbit.now = CLOCK
    files = {"runtime.txt": "python-3.10\n", "requirements.txt": "ipython==7.29.0\n"}
    code = "import IPython, ipykernel, jupyter_client\nprint(IPython.__version__, 'ok')"
    nb = repo(tmp_path, files, code, "2021-12-01T12:00:00Z")
    env = env_json(orbit, nb, "--dry-run")
    floating = set(env["spec"]["floating"])
    assert not floating & {"ipykernel", "jupyter-client", "traitlets", "jedi"}
    assert "tornado" in floating
    pins = dict(p.split("==") for p in env["pins"])
    assert pins["ipython"] == "7.29.0" and pins["ipykernel"].startswith("6.")
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    assert "7.29.0 ok" in r.stdout


def test_a_python_uv_cannot_install_is_told_with_what_is_here(orbit: Orbit, tmp_path: Path):
    orbit.now = CLOCK
    nb = repo(tmp_path, {"runtime.txt": "python-3.5\n"}, VERSION, "2019-03-25T12:00:00Z")
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode != 0
    err = " ".join(r.stderr.split())
    assert "Python 3.5 is not on this machine (found: " in err
    assert "uv cannot install it" in err and "uv python install 3.5" not in err
    if os.environ.get("PYENV_ROOT") or (Path.home() / ".pyenv").is_dir():
        assert "pyenv install 3.5" in err
    assert "--python 3.11 --as-of now" in err or "--as-of now" in err
