"""The header of a notebook's requirements lock."""

from jupyter_orbit.ecosystems import lockfile


def test_the_header_names_the_python_without_its_separator():
    head = lockfile.read_header(
        "# orbit lock 1; inputs sha256:ab12; python 3.11; 2026-11-26\nsix\n"
    )
    assert head == {"v": "1", "inputs": "sha256:ab12", "python": "3.11"}


def test_text_without_a_header_has_none():
    assert lockfile.read_header("six==1.16.0\n") is None
