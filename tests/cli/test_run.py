"""orbit run and orbit env with real uv and real kernels."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO, Orbit, make_notebook, snapshot

pytestmark = pytest.mark.integration


def copy_example(name: str, dest: Path) -> Path:
    shutil.copytree(REPO / "examples" / name, dest / name)
    return dest / name


def test_run_binder_style_example(shared_orbit: Orbit, tmp_path: Path):
    project = copy_example("binder-demo", tmp_path)
    out = tmp_path / "executed.ipynb"
    r = shared_orbit.run(
        "run", str(project / "notebooks" / "analysis.ipynb"), "--yes", "-o", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "Nairobi    23.80" in r.stdout  # read ../data relative to the notebook: cwd is right
    assert "resolve" in r.stderr and "pandas" in r.stderr  # progress said what it did
    assert f"wrote {out}" in r.stderr  # an explicit write says what it wrote
    executed = nbformat.read(out, as_version=4)
    nbformat.validate(executed)
    assert executed.cells[1].outputs and executed.cells[1].execution_count == 1

    # The second run reuses the environment: no build steps.
    again = shared_orbit.run("run", str(project / "notebooks" / "analysis.ipynb"))
    assert again.returncode == 0, again.stderr
    assert "resolve" not in again.stderr


def test_run_hello_example_reports_its_environment(shared_orbit: Orbit, tmp_path: Path):
    project = copy_example("hello", tmp_path)
    r = shared_orbit.run("run", str(project / "hello.ipynb"), "--yes")
    assert r.returncode == 0, r.stderr
    env = json.loads(shared_orbit.run("env", str(project / "hello.ipynb"), "--json").stdout)
    assert env["built"] is True
    assert f"kernel interpreter: {env['location']}/bin/python" in r.stdout
    assert r.stdout.strip().endswith("15")


def test_failing_cell_is_named_and_exit_code_is_1(shared_orbit: Orbit, tmp_path: Path):
    nb = make_notebook(
        tmp_path / "fail.ipynb", "x = 1", "print('before')", "1 / 0", "print('never')"
    )
    before = snapshot(tmp_path)
    r = shared_orbit.run("run", str(nb), "--yes")
    assert r.returncode == 1
    assert "before" in r.stdout and "never" not in r.stdout
    assert "cell 3 ('1 / 0') failed: ZeroDivisionError: division by zero" in r.stderr
    assert "Traceback" not in r.stderr.split("error:")[-1]  # our line is one line
    assert snapshot(tmp_path) == before  # the notebook itself is untouched


def test_output_written_even_when_a_cell_fails(shared_orbit: Orbit, tmp_path: Path):
    nb = make_notebook(tmp_path / "fail.ipynb", "print(41 + 1)", "raise ValueError('nope')")
    out = tmp_path / "out.ipynb"
    r = shared_orbit.run("run", str(nb), "--yes", "--output", str(out))
    assert r.returncode == 1
    assert f"wrote {out}" in r.stderr
    executed = nbformat.read(out, as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert executed.cells[1].outputs[0]["ename"] == "ValueError"


def test_timeout_per_cell(shared_orbit: Orbit, tmp_path: Path):
    nb = make_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    r = shared_orbit.run("run", str(nb), "--timeout", "2")
    assert r.returncode == 1
    assert "Timeout" in r.stderr and "cell 1" in r.stderr


def test_untrusted_notebook_is_not_installed_without_consent(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "downloaded"
    nb = make_notebook(
        project / "nb.ipynb", "import six", metadata={"orbit": {"packages": {"pypi": ["six"]}}}
    )
    r = orbit.run("run", str(nb))  # no terminal, no --yes
    assert r.returncode == 2
    assert "outside a trusted project" in r.stderr and "--yes" in r.stderr
    assert not (orbit.home / "envs" / "local").exists() or not any(
        (orbit.home / "envs" / "local").glob("*/orbit-env.json")
    )
    trusted = orbit.run("trust", str(project))
    assert trusted.returncode == 0 and "trusted" in trusted.stdout
    ok = orbit.run("run", str(nb))
    assert ok.returncode == 0, ok.stderr


def test_index_url_needs_consent_and_is_reported(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "mirror"
    (project).mkdir()
    (project / "requirements.txt").write_text("--index-url https://pypi.org/simple\nsix\n")
    nb = make_notebook(project / "nb.ipynb", "import six")
    r = orbit.run("run", str(nb))
    assert r.returncode == 2 and "--index-url https://pypi.org/simple" not in r.stdout
    env = json.loads(orbit.run("env", str(nb), "--json").stdout)
    assert env["source_changing"] == ["--index-url https://pypi.org/simple"]
    ok = orbit.run("run", str(nb), "--yes")
    assert ok.returncode == 0, ok.stderr
    assert "somewhere other than the registry: --index-url https://pypi.org/simple" in ok.stderr


def test_env_json_reports_sources_ignored_and_plan(orbit: Orbit, tmp_path: Path):
    project = copy_example("binder-demo", tmp_path)
    (project / "requirements.txt").write_text("flask\n")  # shadowed by binder/
    r = orbit.run("env", str(project / "notebooks" / "analysis.ipynb"), "--json")
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["built"] is False and env["project_dir"] == str(project / "binder")
    assert {
        "path": str(project / "requirements.txt"),
        "reason": "the binder/ folder takes precedence (repo2docker's rule)",
    } in env["ignored"]
    reqs = {q["requirement"]: q for q in env["requirements"]}
    assert reqs["pandas>=2.1"]["source"] == f"{project / 'binder' / 'requirements.txt'}:2"
    assert reqs["pandas>=2.1"]["level"] == "project files"
    assert [s["action"] for s in env["plan"]["steps"]] == [
        "venv",
        "resolve",
        "install",
        "bytecode",
        "commit",
    ]
    assert env["plan"]["location"].endswith(env["env_id"])

    dry = json.loads(orbit.run("env", str(project / "notebooks"), "--json", "--dry-run").stdout)
    assert any(p.startswith("pandas==") for p in dry["pins"])
    assert not (orbit.home / "envs" / "local" / env["env_id"]).exists()  # nothing was built


def test_env_human_output(orbit: Orbit, tmp_path: Path):
    project = copy_example("hello", tmp_path)
    r = orbit.run("env", str(project / "hello.ipynb"))
    assert r.returncode == 0, r.stderr
    assert (
        "numpy>=1.26" in r.stdout and "requirements.txt:2" in r.stdout and "not built" in r.stdout
    )


def test_dry_run_prints_the_steps_and_creates_nothing(tmp_path: Path):
    """On a fresh home: the plan as the engine will run it, and nothing under the data root
    but the cache (the Pythons found on the machine, uv's answers about the date)."""
    import os
    import subprocess
    import sys

    nb = make_notebook(
        tmp_path / "proj" / "nb.ipynb",
        "import six",
        metadata={"orbit": {"packages": {"pypi": ["six"], "apt": ["dpkg"]}}},
    )
    home = tmp_path / "orbit-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "run", str(nb), "--dry-run"],
        env={**env, "ORBIT_HOME": str(home), "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    words = [ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("  ") and ln[2] != " "]
    steps = words[words.index("venv") : words.index("commit") + 1]
    assert "resolve" in steps and "install" in steps and steps[-2:] == ["bytecode", "commit"]
    assert steps.index("check-apt") < steps.index("resolve")  # system packages first
    assert "pypi:six" in r.stdout and "apt:dpkg" in r.stdout
    assert [p.name for p in home.iterdir()] == ["cache"]  # no environment, profile or state


def test_a_gpu_notebook_on_this_machine_without_one_is_refused(tmp_path: Path):
    """``metadata.orbit.hardware.gpu`` on a machine without a GPU: a clear "no GPU here" with
    the fix, before anything is built (the real detection of this machine)."""
    import os
    import subprocess
    import sys

    from jupyter_orbit.hardware.detect import detect

    if detect(kinds=("gpu",)).gpus():
        pytest.skip("this machine has a GPU")
    nb = make_notebook(
        tmp_path / "proj" / "train.ipynb",
        "import torch",
        metadata={"orbit": {"hardware": {"gpu": "nvidia"}}},
    )
    home = tmp_path / "orbit-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "run", str(nb), "--yes"],
        env={**env, "ORBIT_HOME": str(home), "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "no NVIDIA GPU here: metadata.orbit.hardware.gpu asks for 1 NVIDIA GPU" in r.stderr
    assert "an NVIDIA GPU with its driver" in r.stderr and "Traceback" not in r.stderr
    assert not (home / "envs").exists()


def test_a_second_run_here_adopts_the_kernel_started_ahead(shared_orbit: Orbit, tmp_path: Path):
    """The first run keeps how it started the kernel (in the data root, the user's alone); the
    next starts that kernel before anything else and runs in it; when the record no longer is
    what the pipeline prepares, the early kernel is stopped and the right one runs."""
    from jupyter_orbit.paths import Paths

    nb = make_notebook(
        tmp_path / "ahead.ipynb",
        "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
        "print(IPKernelApp.instance().connection_file, os.environ.get('ORBIT_STALE_MARK'))",
    )
    assert shared_orbit.run("run", str(nb), "--no-server", "--yes").returncode == 0
    records = [
        p
        for p in (shared_orbit.home / "cache" / "prestart").iterdir()
        if json.loads(p.read_text())["notebook"] == str(nb.resolve())
    ]
    assert len(records) == 1
    runtime = Paths(shared_orbit.home).profile("default").runtime_dir

    second = shared_orbit.run("run", str(nb), "--no-server")
    assert second.returncode == 0, second.stderr
    connection_file, mark = second.stdout.split()
    assert Path(connection_file).parent == runtime and mark == "None"  # the one started ahead
    assert not Path(connection_file).exists()  # cleaned up with the kernel

    record = json.loads(records[0].read_text())
    record["env"].append(["ORBIT_STALE_MARK", "stale"])  # no longer what the pipeline prepares
    records[0].write_text(json.dumps(record))
    third = shared_orbit.run("run", str(nb), "--no-server")
    assert third.returncode == 0, third.stderr
    assert third.stdout.split()[1] == "None"  # the right kernel ran the cell
    left = [
        proc.name
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit() and b"ORBIT_STALE_MARK=stale" in _environ(proc)
    ]
    assert left == []  # the early kernel was stopped, not left behind
    assert "ORBIT_STALE_MARK" not in records[0].read_text()  # the record describes this run


def _environ(proc: Path) -> bytes:
    try:
        return (proc / "environ").read_bytes()
    except OSError:
        return b""
