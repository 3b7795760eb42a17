"""The profile's remotes.toml: round trips that keep the user's comments, clear errors."""

from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.remote.hosts import HostStore, RemoteHost
from jupyter_orbit.remote.url import parse_ssh_url


def _host(name: str = "lab", **kw) -> RemoteHost:
    return RemoteHost(name, parse_ssh_url("ssh://me@lab.example.org:2222"), **kw)


def test_add_list_get_remove(tmp_path: Path):
    store = HostStore(tmp_path)
    assert store.hosts() == []
    added = store.add(_host(find_links=("https://mirror/wheels/",), no_index=True))
    assert added.added  # stamped
    assert store.hosts() == [added]
    assert store.get("lab").index_args() == ["--no-index", "--find-links", "https://mirror/wheels/"]
    assert store.get("lab").engine == "ssh:lab"
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    store.add(_host("gpu", index_url="https://idx/simple", extra_index_urls=("https://x/simple",)))
    assert [h.name for h in store.hosts()] == ["lab", "gpu"]
    assert store.get("gpu").index_args() == [
        "--index-url", "https://idx/simple", "--extra-index-url", "https://x/simple"
    ]  # fmt: skip
    assert store.remove("lab").name == "lab"
    assert [h.name for h in store.hosts()] == ["gpu"]


def test_the_users_comments_survive_changes(tmp_path: Path):
    store = HostStore(tmp_path)
    store.path.write_text(
        '# my machines\n[hosts.old]  # the old box\nurl = "ssh://old"\n', encoding="utf-8"
    )
    store.add(_host())
    text = store.path.read_text()
    assert "# my machines" in text and "# the old box" in text
    store.remove("lab")
    assert "# my machines" in store.path.read_text()


def test_unknown_names_list_the_known_ones(tmp_path: Path):
    store = HostStore(tmp_path)
    store.add(_host("lab"))
    with pytest.raises(InputError) as e:
        store.get("gpu")
    assert "no remote host named 'gpu'" in e.value.message
    assert "known remotes: lab" in e.value.hint and "orbit remote add gpu" in e.value.hint


def test_a_duplicate_name_is_refused_unless_replacing(tmp_path: Path):
    store = HostStore(tmp_path)
    store.add(_host())
    with pytest.raises(InputError, match="exists already"):
        store.add(_host())
    store.add(_host(no_index=True), replace=True)
    assert store.get("lab").no_index


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[hosts.lab\n", "cannot read the remote hosts"),
        ("[hosts.lab]\nuser = 'x'\n", "has no url"),
        ('[hosts.lab]\nurl = "me@lab"\n', "not an ssh:// address"),
        ('[hosts.lab]\nurl = "ssh://lab"\nfind-links = "x"\n', "must be a list of strings"),
        ('[hosts."a b"]\nurl = "ssh://lab"\n', "invalid remote name"),
    ],
)
def test_a_damaged_file_is_a_clear_error(tmp_path: Path, text: str, says: str):
    store = HostStore(tmp_path)
    store.path.write_text(text)
    with pytest.raises(InputError) as e:
        store.hosts()
    assert says in e.value.message


def test_gateways_live_beside_hosts_and_their_tokens_apart(tmp_path: Path):
    from jupyter_orbit.remote.hosts import Gateway

    store = HostStore(tmp_path / "profile")
    store.add(RemoteHost("lab", parse_ssh_url("ssh://me@lab")))
    store.add_gateway(Gateway("site", "https://gw.example.org"), "s3cret")
    [gw] = store.gateways()
    assert gw.engine == "gateway:site" and gw.added
    assert store.gateway("https://gw.example.org") == gw == store.gateway("site")
    assert store.token("site") == "s3cret"
    assert store.token_file("site").stat().st_mode & 0o777 == 0o600
    assert "s3cret" not in store.path.read_text()
    with pytest.raises(InputError, match="exists already"):
        store.add_gateway(Gateway("lab", "https://other.example.org"))
    with pytest.raises(InputError, match="exists already"):
        store.add(RemoteHost("site", parse_ssh_url("ssh://me@site")))
    with pytest.raises(InputError, match="no gateway 'https://elsewhere"):
        store.gateway("https://elsewhere.example.org")
    store.remove_gateway("site")
    assert store.gateways() == [] and store.token("site") is None
    assert [h.name for h in store.hosts()] == ["lab"]
