"""Which package sources the user configured (the attacks: tests/security/test_indexes.py)."""

from jupyter_orbit.indexes import IndexPolicy, _url


def test_urls_compare_without_trailing_slash_or_case():
    assert _url("HTTPS://Mirror.Example/Simple/") == "https://mirror.example/Simple"


def test_the_users_environment_counts_as_configuration(tmp_path):
    policy = IndexPolicy(("https://a.example/simple", str(tmp_path)))
    known = policy.user_indexes(
        {
            "UV_INDEX": "team=https://b.example/simple https://c.example/simple/",
            "PIP_INDEX_URL": "https://d.example/simple",
        }
    )
    for url in ("a", "b", "c", "d"):
        assert f"https://{url}.example/simple" in known
    assert "https://pypi.org/simple" in known and str(tmp_path.resolve()) in known
