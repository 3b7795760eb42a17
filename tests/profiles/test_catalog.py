"""Searching for prebuilt extensions: Orbit's list, then PyPI's JSON for the hits."""

import pytest

from jupyter_orbit.profiles import catalog


def fake_pypi(projects):
    asked = []

    def fetch(name):
        asked.append(name)
        return projects.get(name)

    return fetch, asked


def prebuilt(name, version, summary="from pypi"):
    return {
        "info": {
            "name": name,
            "version": version,
            "summary": summary,
            "classifiers": [catalog.PREBUILT],
        }
    }


def test_words_match_names_descriptions_and_keywords():
    assert [n for n, _ in catalog.matches("execute time")] == ["jupyterlab-execute-time"]
    assert "jupyterlab-git" in [n for n, _ in catalog.matches("vcs")]
    themes = [n for n, _ in catalog.matches("theme dark")]
    assert "jupyterlab-night" in themes and len(themes) >= 2
    assert catalog.matches("no such words at all") == []


def test_hits_are_checked_on_pypi():
    fetch, asked = fake_pypi(
        {"jupyterlab-execute-time": prebuilt("jupyterlab-execute-time", "3.3.0")}
    )
    hits, why = catalog.search("execute time", fetch)
    assert why is None
    assert [(h.name, h.version, h.prebuilt, h.listed) for h in hits] == [
        ("jupyterlab-execute-time", "3.3.0", True, True)
    ]
    assert "execute" not in asked  # two words are not a package name


def test_an_exact_name_is_looked_up_and_judged():
    fetch, _ = fake_pypi(
        {
            "some-lab-thing": prebuilt("some-lab-thing", "1.0", "a thing"),
            "requests": {"info": {"name": "requests", "version": "2", "classifiers": []}},
        }
    )
    hits, _ = catalog.search("some-lab-thing", fetch)
    assert [(h.name, h.prebuilt, h.listed) for h in hits] == [("some-lab-thing", True, False)]
    hits, _ = catalog.search("requests", fetch)
    assert [(h.name, h.prebuilt) for h in hits] == [("requests", False)]
    hits, _ = catalog.search("nonexistent-xyz", fetch)
    assert hits == []


def test_offline_shows_the_list_and_says_why():
    def down(name):
        raise OSError("network is unreachable")

    hits, why = catalog.search("git", down)
    assert "network is unreachable" in why
    assert "jupyterlab-git" in [h.name for h in hits]
    assert all(h.version is None for h in hits)


@pytest.mark.integration
def test_real_pypi():
    hits, why = catalog.search("jupyterlab-execute-time", catalog.pypi_fetch())
    assert why is None, why
    (hit,) = hits
    assert hit.prebuilt and hit.version and hit.version[0].isdigit()
