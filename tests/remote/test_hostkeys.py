"""Host keys: known, unknown or changed, from the user's files and the profile's own."""

from pathlib import Path

from jupyter_orbit.remote._lib import asyncssh
from jupyter_orbit.remote.hostkeys import HostKeys, known_hosts_name


def _key():
    return asyncssh().generate_private_key("ssh-ed25519").convert_to_public()


def _line(name: str, key) -> str:
    return f"{name} {key.export_public_key().decode().strip()}\n"


def test_names_follow_openssh():
    assert known_hosts_name("lab", 22) == "lab"
    assert known_hosts_name("lab", None) == "lab"
    assert known_hosts_name("lab", 2222) == "[lab]:2222"


def test_verdicts_from_the_users_file_and_orbits(tmp_path: Path):
    mine, other, new = _key(), _key(), _key()
    user = tmp_path / "known_hosts"
    user.write_text(_line("lab", mine) + _line("[gpu]:2222", other))
    keys = HostKeys(tmp_path / "orbit_known_hosts", [user, tmp_path / "missing"])
    assert keys.verdict("lab", 22, mine).status == "known"
    changed = keys.verdict("lab", 22, new)
    assert changed.status == "changed"
    assert changed.recorded == (mine.get_fingerprint("sha256"),) and changed.where == (str(user),)
    assert keys.verdict("gpu", 2222, other).status == "known"
    assert keys.verdict("gpu", 22, other).status == "unknown"  # another port, another host
    assert keys.verdict("box", 22, new).status == "unknown"

    keys.record("box", 22, new)
    keys.record("box", 22, new)  # once is enough
    assert keys.orbit_file.read_text() == _line("box", new)
    assert oct(keys.orbit_file.stat().st_mode & 0o777) == "0o600"
    assert keys.verdict("box", 22, new).status == "known"
    assert keys.verdict("box", 22, mine).status == "changed"
    assert keys.forget("box", 22) == 1 and keys.verdict("box", 22, new).status == "unknown"
    assert user.read_text().count("\n") == 2  # the user's own file is never written


def test_a_damaged_file_trusts_nothing_from_it(tmp_path: Path):
    bad = tmp_path / "known_hosts"
    bad.write_text("lab ssh-ed25519 not-base64!!\n")
    keys = HostKeys(tmp_path / "orbit", [bad])
    assert keys.verdict("lab", 22, _key()).status == "unknown"
    assert keys.trusted().match("lab", "", None)[0] == []
