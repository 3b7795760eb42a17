"""The ecosystems' own plug points: conda against a channel the test writes (solve, lock,
install into a prefix with py-rattler), npm into an environment's prefix, apt never installing
on this machine, and the registry of ecosystems."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit.bazaar import kernel_ecosystems
from jupyter_orbit.ecosystems import get_ecosystem
from jupyter_orbit.ecosystems.apt import CheckStep
from jupyter_orbit.ecosystems.base import Prefix
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import EnvSpec
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress


def prefix_at(folder: Path, paths: Paths, progress: NullProgress | None = None) -> Prefix:
    """An environment being built at ``folder`` (what an engine hands an ecosystem)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Prefix(
        paths,
        EnvSpec(),
        folder,
        folder,
        folder / "bin" / "python",
        Path(sys.executable),
        progress or NullProgress(),
    )


def test_unknown_ecosystem_lists_the_known_ones(tmp_path: Path):
    with pytest.raises(InputError, match="unknown ecosystem 'cargo'") as e:
        get_ecosystem("cargo", Paths(tmp_path))
    assert e.value.hint == "use one of: apt, compose, conda, npm, pypi"
    assert list(kernel_ecosystems("python3")) == ["pypi", "conda", "apt"]
    assert kernel_ecosystems("ir") == {"conda": "r-", "apt": "r-cran-"}


def orbit_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    pytest.importorskip("rattler")
    from tests.support.conda_channel import build_conda_package, index_channel

    ch = tmp_path / "channel"
    build_conda_package(ch, "orbit-bz-tool", "1.0")
    build_conda_package(ch, "orbit-bz-tool", "2.0")
    build_conda_package(ch, "orbit-bz-lib", "0.5", depends=["orbit-bz-tool >=2"])
    index_channel(ch)
    return ch


def test_conda_solves_locks_and_installs_from_a_local_channel(tmp_path: Path, channel: Path):
    conda = get_ecosystem("conda", Paths(tmp_path / "home"), {"ORBIT_CONDA_CHANNELS": str(channel)})
    assert conda.reachable()
    lib = conda.normalise("orbit-bz-lib >=0.5")
    assert (lib.name, lib.text) == ("orbit-bz-lib", "orbit-bz-lib >=0.5")
    conda.check([lib])
    with pytest.raises(InputError, match="conda cannot satisfy"):
        conda.check([conda.normalise("orbit-bz-lib"), conda.normalise("orbit-bz-tool <2")])
    lock = conda.lock([lib], cwd=tmp_path)
    lines = lock.splitlines()
    assert lines[0] == "@EXPLICIT" and len(lines) == 3
    assert lines[2].split("#")[0].endswith("orbit-bz-tool-2.0-0.tar.bz2") and "#" in lines[2]
    conda.install(prefix_at(tmp_path / "env", conda.paths), [lib])
    prefix = tmp_path / "env" / "conda"  # conda packages' own prefix inside the environment
    assert (prefix / "share" / "orbit-bz-tool" / "VERSION").read_text() == "2.0\n"
    assert {p.name for p in (prefix / "conda-meta").glob("*.json")} == {
        "orbit-bz-lib-0.5-0.json",
        "orbit-bz-tool-2.0-0.json",
    }


@pytest.mark.integration
def test_orbit_add_conda_checks_against_the_channel(tmp_path: Path, channel: Path, orbit):
    root = tmp_path / "proj"
    root.mkdir()
    yml = "name: p\nchannels:\n  - local\ndependencies:\n  - orbit-bz-tool=2  # tool\n"
    (root / "environment.yml").write_text(yml)
    env = {**orbit.env, "ORBIT_CONDA_CHANNELS": str(channel)}

    r = orbit_cli(env, "add", "conda:orbit-bz-nope", "--to", str(root))
    assert r.returncode == 2 and "conda cannot satisfy" in r.stderr, r.stderr
    assert (root / "environment.yml").read_text() == yml
    r = orbit_cli(env, "add", "orbit-bz-lib>=0.5", "--in", "conda", "--to", str(root))
    assert r.returncode == 0, r.stderr
    assert (root / "environment.yml").read_text() == yml + "  - orbit-bz-lib>=0.5\n"


@pytest.mark.integration
def test_a_notebooks_conda_packages_go_into_its_environment(tmp_path: Path, orbit):
    """metadata.orbit.packages.conda: solved against the channel, installed into the
    environment's own conda/ prefix (paths inside name where it ends up, not the build folder),
    and its programs come right after the environment's own on the kernel's PATH."""
    pytest.importorskip("rattler")
    from tests.conftest import make_notebook
    from tests.support.conda_channel import build_conda_package, index_channel

    ch = tmp_path / "channel"
    here = "/opt/orbit-test-placeholder-prefix"
    build_conda_package(
        ch,
        "orbit-bz-where",
        "1.0",
        {"share/orbit-bz-where/prefix.txt": f"prefix={here}\n"},
        placeholder=here,
    )
    index_channel(ch)
    nb = make_notebook(
        tmp_path / "proj" / "nb.ipynb",
        "import os, pathlib\n"
        "conda = pathlib.Path(os.environ['CONDA_PREFIX'])\n"
        "print(os.environ['PATH'].split(os.pathsep)[1] == str(conda / 'bin'))\n"
        "print((conda / 'share/orbit-bz-where/prefix.txt').read_text().strip() == f'prefix={conda}')",
        metadata={"orbit": {"packages": {"conda": ["orbit-bz-where >=1"]}}},
    )
    env = {**orbit.env, "ORBIT_CONDA_CHANNELS": str(ch)}
    r = orbit_cli(env, "run", str(nb), "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"], r.stdout
    plan = orbit_cli(env, "env", str(nb), "--json")
    info = json.loads(plan.stdout)
    assert info["built"] and Path(info["location"], "conda", "conda-meta").is_dir()


@pytest.mark.integration
def test_conda_packages_from_no_reachable_channel_fail_the_build_cleanly(tmp_path: Path, orbit):
    pytest.importorskip("rattler")
    from tests.conftest import make_notebook

    nb = make_notebook(
        tmp_path / "proj" / "nb.ipynb",
        "print(1)",
        metadata={"orbit": {"packages": {"conda": ["orbit-bz-where"]}}},
    )
    before = nb.read_bytes()
    env = {**orbit.env, "ORBIT_CONDA_CHANNELS": str(tmp_path / "no-channel")}
    r = orbit_cli(env, "run", str(nb), "--yes", "--no-server")
    assert r.returncode == 1, r.stderr
    assert "conda packages (orbit-bz-where) could not be installed" in r.stderr
    assert "ORBIT_CONDA_CHANNELS" in r.stderr and "Traceback" not in r.stderr
    assert nb.read_bytes() == before
    envs = orbit.home / "envs" / "local"
    assert not envs.is_dir() or not any(p.name[0] != "." for p in envs.iterdir())


@pytest.mark.integration
def test_npm_installs_into_the_environment_prefix_without_scripts(tmp_path: Path):
    if not shutil.which("npm"):
        pytest.skip("npm is not installed on this machine")
    npm = get_ecosystem("npm", Paths(tmp_path / "home"))
    req = npm.normalise("is-number@^7")
    try:
        npm.check([req])
    except InputError as e:
        pytest.fail(str(e))
    prefix = tmp_path / "env"
    try:
        npm.install(prefix_at(prefix, npm.paths), [req])
    except Exception as e:
        if "ENOTFOUND" in str(e) or "EAI_AGAIN" in str(e):
            pytest.skip(f"npm registry unreachable: {e}")
        raise
    manifest = json.loads(
        (prefix / "npm" / "node_modules" / "is-number" / "package.json").read_text()
    )
    assert manifest["version"].startswith("7.")
    lock = npm.lock([req], cwd=tmp_path / "work")
    assert '"node_modules/is-number"' in lock


def test_apt_never_installs_here(tmp_path: Path):
    if not shutil.which("dpkg-query"):
        pytest.skip("not a Debian system")
    apt = get_ecosystem("apt", Paths(tmp_path))
    progress = NullProgress()
    prefix = prefix_at(tmp_path, apt.paths, progress)
    CheckStep("", (apt.normalise("orbit-no-such-debian-package"),)).run(prefix)
    sudo = "" if os.geteuid() == 0 else "sudo "
    assert progress.warnings == [
        "Debian packages not installed: orbit-no-such-debian-package; Orbit never installs them "
        f"on this machine itself. Run: {sudo}apt-get install -y --no-install-recommends "
        "orbit-no-such-debian-package"
    ]
    CheckStep("", (apt.normalise("dpkg"),)).run(prefix)  # present: nothing to say
    assert len(progress.warnings) == 1
