from dataclasses import replace
from pathlib import Path

from jupyter_orbit.ecosystems.pypi import pypi_requirement
from jupyter_orbit.model import EnvSpec, Level, Lock, Origin, Requirement, dedupe


def spec(*reqs: str, **kw) -> EnvSpec:
    return EnvSpec(requirements=dedupe(pypi_requirement(r) for r in reqs), **kw)


def test_hash_ignores_spelling_order_and_origin():
    a = spec("NumPy>=1.26", "pandas[Excel]")
    b = EnvSpec(
        requirements=(
            pypi_requirement(
                "pandas[excel]", Origin("requirements.txt", Path("r.txt"), 3, Level.PROJECT)
            ),
            pypi_requirement(
                "numpy >= 1.26", Origin("pyproject.toml", Path("p.toml"), 9, Level.PROJECT)
            ),
        )
    )
    assert a.env_id == b.env_id
    assert len(a.env_id) == 20 and all(c in "0123456789abcdef" for c in a.env_id)


def test_hash_changes_with_everything_that_changes_the_install():
    base = spec("numpy", python="3.11")
    variants = [
        spec("numpy>=2", python="3.11"),
        spec("numpy", python="3.12"),
        spec("numpy", python="3.11", as_of="2024-01-01T00:00:00Z"),
        spec("numpy", python="3.11", kernel="other"),
        spec("numpy", python="3.11", index_options=("--index-url https://example.org/simple",)),
        spec("numpy", python="3.11", lock=Lock("uv.lock", "version = 1\n")),
        replace(base, requirements=(*base.requirements, Requirement("apt", "git", "git"))),
        replace(base, constraints=(pypi_requirement("numpy<3"),)),
    ]
    ids = {v.env_id for v in variants}
    assert base.env_id not in ids and len(ids) == len(variants)


def test_hash_is_stable_across_runs():
    # A fixed spec keeps a fixed id: changing it orphans every environment users have built.
    assert spec("numpy==2.1.0", python="3.11").env_id == "8cadbf57bbfd24d4356e"
    assert spec("six", python="3.11").identity() == {
        "v": 1,
        "kernel": "python",
        "python": "3.11",
        "requirements": [("pypi", "six")],
        "constraints": [],
        "index": [],
        "as_of": None,
        "lock": None,
    }


def test_dedupe_keeps_first_origin():
    o1, o2 = Origin("a", Path("a"), 1), Origin("b", Path("b"), 2)
    out = dedupe([pypi_requirement("six", o1), pypi_requirement("Six", o2)])
    assert len(out) == 1 and out[0].origin == o1


def test_to_dict_groups_by_ecosystem():
    s = replace(
        spec("six"), requirements=(*spec("six").requirements, Requirement("apt", "git", "git"))
    )
    assert s.to_dict()["packages"] == {"pypi": ["six"], "apt": ["git"]}
