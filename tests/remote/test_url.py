"""ssh:// addresses: what is accepted, and what is refused with a clear message."""

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.remote.url import SshTarget, check_host_name, parse_ssh_url


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("ssh://me@lab.example.org", SshTarget("lab.example.org", "me", None)),
        ("ssh://me@lab:2222", SshTarget("lab", "me", 2222)),
        ("ssh://lab", SshTarget("lab", None, None)),
        ("ssh://lab/", SshTarget("lab", None, None)),
        ("ssh://ana.b@10.213.4.2", SshTarget("10.213.4.2", "ana.b", None)),
        ("ssh://me@[fd00::2]:22", SshTarget("fd00::2", "me", 22)),
        ("  ssh://me@lab  ", SshTarget("lab", "me", None)),
    ],
)
def test_valid_addresses(text, target):
    assert parse_ssh_url(text) == target


def test_round_trip():
    for text in ("ssh://me@lab:2222", "ssh://lab", "ssh://me@[fd00::2]:22"):
        assert str(parse_ssh_url(text)) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("me@lab", "not an ssh:// address"),
        ("http://lab", "not an ssh:// address"),
        ("ssh://me:secret@lab", "contains a password"),
        ("ssh://me@lab/home/me", "path or query"),
        ("ssh://me@lab?x=1", "path or query"),
        ("ssh://me@", "names no host"),
        ("ssh://me@lab:99999", "invalid ssh:// address"),
        ("ssh://me@lab:0", "invalid port 0"),
        ("ssh://me@-oProxyCommand=x", "invalid host name"),
        ("ssh://me@la b", "invalid host name"),
        ("ssh://-x@lab", "invalid user name"),
        ("ssh://m;e@lab", "invalid user name"),
    ],
)
def test_invalid_addresses_are_refused_with_the_fix(text, says):
    with pytest.raises(InputError) as e:
        parse_ssh_url(text)
    assert says in e.value.message
    assert e.value.hint


def test_remote_names():
    assert check_host_name("lab-2.gpu_box") == "lab-2.gpu_box"
    for bad in ("", "-x", "a/b", "a:b", "..", "a..b", "x" * 65):
        with pytest.raises(InputError):
            check_host_name(bad)
