from __future__ import annotations

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.apt import AptTxt

READER = AptTxt()

REALISTIC = """\
# System libraries for the geo notebooks
libgdal-dev
graphviz  texlive-latex-extra   # for nbconvert PDFs

  Curl
libc6:amd64
gcc-12=12.2.0-14
g++
"""


def test_realistic_apt_txt(write, tmp_path):
    path = write("apt.txt", REALISTIC, crlf=True)
    c = READER.read(path, root=tmp_path)
    assert [(r.ecosystem, r.name, r.text, r.origin.line) for r in c.requirements] == [
        ("apt", "libgdal-dev", "libgdal-dev", 2),
        ("apt", "graphviz", "graphviz", 3),
        ("apt", "texlive-latex-extra", "texlive-latex-extra", 3),
        ("apt", "curl", "curl", 5),
        ("apt", "libc6", "libc6:amd64", 6),
        ("apt", "gcc-12", "gcc-12=12.2.0-14", 7),
        ("apt", "g++", "g++", 8),
    ]
    assert {r.origin.kind for r in c.requirements} == {"apt.txt"}
    assert c.provides() == ("packages.apt",)


def test_empty_apt_txt_declares_apt(write, tmp_path):
    c = READER.read(write("apt.txt", "# nothing\n"), root=tmp_path)
    assert c.provides() == ("packages.apt",)


@pytest.mark.parametrize("word", ["x", "-curl", "curl;", "foo_bar", "pkg:", "pkg=", "pkg=1 2"])
def test_invalid_names(write, tmp_path, word, unchanged):
    path = write("apt.txt", f"curl\n\ngit {word}\n")
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "Debian package name" in e.value.message
    assert (e.value.path, e.value.line) == (path, 3)
    assert "apt.txt:3" in str(e.value)
