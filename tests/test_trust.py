"""Which folders the user trusts to declare what gets installed."""

import stat

from jupyter_orbit.trust import TrustStore


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
