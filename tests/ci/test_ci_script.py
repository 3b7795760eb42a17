"""`.ci/run` runs from top to bottom under `set -euo pipefail`.

CI gives a broken script one second and no second chance, so every line of it is walked here
with the machine's tools replaced by stubs that log their arguments: an unset variable, a
missing `fi` or a step that never gets reached fails this test instead of CI.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Tools the script only reads from; the real ones are used.
REAL = (
    "dirname",
    "seq",
    "nproc",
    "uname",
    "tr",
    "ls",
    "tail",
    "cat",
    "sleep",
    "chmod",
    "rm",
    "mkdir",
)
# Tools that would change this machine: each becomes a stub that logs its arguments.
STUBBED = (
    "apt-get",
    "docker",
    "dockerd",
    "npm",
    "setsid",
    "debootstrap",
    "update-binfmts",
    "mount",
    "ip",
    "tee",
    "qemu-aarch64-static",
    "git",
    "sudo",
    "nice",
)


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Path, Path, Path]:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", repo / ".ci" / "run")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "log"
    for tool in REAL:
        real = shutil.which(tool)
        assert real, tool
        (bin_ / tool).symlink_to(real)
    for tool in STUBBED:
        _stub(bin_ / tool, f'echo "${{ORBIT_CI_SUDO:+sudo }}{tool} $*" >> "$ORBIT_CI_LOG"\n')
    # `sudo X` runs X, which logs that it ran as root; `nice -n 10 X` runs X.
    _stub(bin_ / "sudo", 'ORBIT_CI_SUDO=1 exec "$@"\n')
    _stub(bin_ / "nice", 'echo "nice $*" >> "$ORBIT_CI_LOG"; shift 2; exec "$@"\n')
    _stub(bin_ / "id", 'echo "$ORBIT_CI_UID"\n')
    # python3: `--version` answers, `-m venv DIR` makes DIR/bin/python, itself a logging stub.
    _stub(
        bin_ / "python3",
        """\
        echo "python3 $*" >> "$ORBIT_CI_LOG"
        case "$1" in
          --version) echo "Python 3.11.0" ;;
          -m) mkdir -p "$3/bin"
              printf '#!/bin/sh\\necho "venv-python $*" >> "$ORBIT_CI_LOG"\\n' > "$3/bin/python"
              printf '#!/bin/sh\\necho "venv-pip $*" >> "$ORBIT_CI_LOG"\\n' > "$3/bin/pip"
              chmod +x "$3/bin/python" "$3/bin/pip" ;;
        esac
        """,
    )
    return repo, bin_, log


@pytest.mark.parametrize("uid", ["0", "1000"])
def test_every_step_runs_under_set_u(machine: tuple[Path, Path, Path], uid: str) -> None:
    repo, bin_, log = machine
    env = {"PATH": str(bin_), "HOME": str(repo), "ORBIT_CI_LOG": str(log), "ORBIT_CI_UID": uid}
    bash = shutil.which("bash")
    assert bash
    done = subprocess.run(
        [bash, str(repo / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = log.read_text().splitlines()
    # The README's test command ran, and every slow step after it.
    assert "venv-python -m pytest" in calls, calls
    slow = [c for c in calls if c.startswith("venv-python -m pytest -n 0 -m slow")]
    assert len(slow) == 4, slow
    apt = [c for c in calls if c.startswith(("apt-get", "sudo apt-get"))]
    assert len(apt) >= 5, apt
    if uid == "0":
        assert not any(c.startswith("sudo ") for c in calls), calls
    else:  # Not root: every apt-get goes through sudo.
        assert all(c.startswith("sudo ") for c in apt), apt
