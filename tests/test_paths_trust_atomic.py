import stat

import pytest

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths, check_profile_name
from jupyter_orbit.trust import TrustStore


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


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path):
    f = tmp_path / "state.json"
    atomic.write_json(f, {"a": 1}, mode=0o600)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    atomic.write_json(f, {"a": 2})
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and '"a": 2' in f.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("old")

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic.write_json(f, {"x": Boom()})
    assert f.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_trust_covers_subfolders(tmp_path):
    store = TrustStore(tmp_path / "home" / "trust.json")
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    assert not store.is_trusted(proj / "sub")
    assert store.trust(proj) is True
    assert store.trust(proj) is False
    assert store.is_trusted(proj / "sub") and not store.is_trusted(tmp_path)
    assert stat.S_IMODE((tmp_path / "home" / "trust.json").stat().st_mode) == 0o600
    assert store.revoke(proj) and not store.is_trusted(proj)


def test_damaged_trust_record_trusts_nothing(tmp_path):
    f = tmp_path / "trust.json"
    f.write_text("{not json")
    assert not TrustStore(f).is_trusted(tmp_path)
    assert f.exists()
