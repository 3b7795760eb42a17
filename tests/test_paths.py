"""Every location under the data root, and profile names that are safe on every system."""

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths, check_profile_name


@pytest.mark.parametrize("name", ["default", "teaching", "research-2", "a.b_c"])
def test_good_profile_names(name):
    assert check_profile_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "..", "../x", "a/b", "a\\b", ".hidden", "con", "NUL", "x" * 65, "a."]
)
def test_bad_profile_names(name):
    with pytest.raises(InputError):
        check_profile_name(name)


def test_paths_come_from_orbit_home(tmp_path):
    paths = Paths.from_env({"ORBIT_HOME": str(tmp_path)})
    prof = paths.profile("teaching")
    assert prof.root == tmp_path / "profiles" / "teaching"
    assert paths.envs_dir("local") == tmp_path / "envs" / "local"
    env = prof.jupyter_env()
    assert env["JUPYTER_CONFIG_DIR"].startswith(str(prof.root))
    assert env["IPYTHONDIR"].startswith(str(prof.root))
