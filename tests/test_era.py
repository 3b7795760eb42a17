"""Fitting a notebook to its time: which Python, and where the kernel's own packages stand.

The rules are tested here against a small made-up index that answers in uv's place (the one
seam: ``_Fitter._run``, which runs ``uv pip compile``); the same rules on real PyPI, with real
uv and real kernels, are in tests/cli/test_old_notebooks.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jupyter_orbit import era, pythons
from jupyter_orbit.model import EnvSpec, Level, Origin, Requirement, Resolution, Source
from jupyter_orbit.paths import Paths
from jupyter_orbit.pythons import Interpreter
from tests.conftest import make_notebook

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass
class Release:
    version: str
    date: str  # "2021-01-01"
    wheels: frozenset[str]  # the minors it has wheels for; empty: an sdist only
    deps: tuple[str, ...] = ()
    python: tuple[str, str] = ("3.0", "9.9")  # the minors it installs on (requires-python)


@dataclass
class FakeIndex:
    """Answers ``uv pip compile`` as uv would for a handful of packages."""

    packages: dict[str, list[Release]]
    asked: list[list[str]] = field(default_factory=list)

    def run(self, args, lines, constraints, key):
        self.asked.append(list(args))
        minor = _python_of(args)
        if "--no-deps" in args:  # the wheel check of exact pins
            for line in lines:
                name, version = line.split("==")
                rel = next(r for r in self.packages[name] if r.version == version)
                if minor not in rel.wheels:
                    return None, ""
            return "\n".join(lines), ""
        when = args[args.index("--exclude-newer") + 1][:10]
        dates = {
            a.split("=")[1]: a.split("=")[2][:10]
            for a in args
            if a.startswith("--exclude-newer-package=")
        }
        pins: dict[str, str] = {}
        todo = [ln.split("==")[0] for ln in lines if ln]
        while todo:
            name = todo.pop()
            if name in pins:
                continue
            cutoff = dates.get(name, when)
            fits = [r for r in self.packages[name] if r.date < cutoff and _between(minor, r.python)]
            if not fits:
                return None, f"no version of {name}"
            pins[name] = fits[-1].version
            todo += list(fits[-1].deps)
        return "\n".join(f"{n}=={v}" for n, v in sorted(pins.items())) + "\n", ""


def _python_of(args: list[str]) -> str:
    if "--python-version" in args:
        return args[args.index("--python-version") + 1]
    return Path(args[args.index("--python") + 1]).parent.parent.name[:4].rstrip(".")


def _between(minor: str, bounds: tuple[str, str]) -> bool:
    key = pythons.version_key
    return key(bounds[0]) <= key(minor) <= key(bounds[1])


ALL = frozenset({"3.6", "3.7", "3.8", "3.9", "3.10", "3.11"})
# ipykernel needs tornado; tornado had no wheel for 3.10 until mid-2022.
KERNEL = {
    "ipykernel": [
        Release("5.0", "2019-01-01", frozenset({"py3"}) | ALL, ("tornado",)),
        Release("6.0", "2021-07-01", frozenset({"py3"}) | ALL, ("tornado", "matplotlib-inline")),
    ],
    "tornado": [
        Release("6.0", "2019-03-01", frozenset({"3.6", "3.7"})),
        Release("6.1", "2020-10-30", frozenset({"3.6", "3.7", "3.8", "3.9"})),
        Release("6.2", "2022-07-03", ALL),
    ],
    "matplotlib-inline": [Release("0.1", "2021-03-01", ALL), Release("0.2", "2024-01-01", ALL)],
}


def _machine(*versions: str) -> list[Interpreter]:
    return [
        Interpreter(Path(f"/py/{v}/bin/python"), v, "cpython", "pyenv")
        for v in sorted(versions, key=pythons.version_key, reverse=True)
    ]


def _res(
    tmp_path: Path,
    declared: list[str],
    *,
    as_of: str = "2021-06-01T00:00:00Z",
    source: str = "git",
    python: str | None = None,
    recorded: str | None = None,
) -> Resolution:
    meta = {"language_info": {"name": "python", "version": recorded}} if recorded else {}
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata=meta)
    project = Origin("requirements.txt", tmp_path / "requirements.txt", 1, Level.PROJECT)
    recipe = Origin("kernel recipe python", level=Level.RECIPE)
    reqs = [Requirement("pypi", n, n, project) for n in declared]
    reqs.append(Requirement("pypi", "ipykernel", "ipykernel", recipe))
    level = Level.PROJECT if python else Level.PROFILE
    spec = EnvSpec(python=python or "3.11", requirements=tuple(reqs), as_of=as_of)
    sources = (Source("runtime.txt" if python else "profile default", None, level, ("python",)),)
    return Resolution(
        spec=spec,
        target=nb,
        notebook=nb,
        project_root=tmp_path,
        project_dir=tmp_path,
        sources=sources,
        as_of_source=source,
        as_of_detail="--as-of now" if source == "command line" else "a commit",
    )


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Install an index (``fake(packages, machine, downloads)``) in uv's place."""

    def install(packages, machine, downloads=()):
        index = FakeIndex({**KERNEL, **packages})

        def answer(self, *a):  # as ``_run`` does when the index itself answers
            pins, said = index.run(*a)
            self.given.add(pins)
            return pins, said

        monkeypatch.setattr(era._Fitter, "_run", answer)
        monkeypatch.setattr(era.pythons, "discover", lambda cache=None, environ=None: machine)
        monkeypatch.setattr("jupyter_orbit.uvcli.python_downloads", lambda: frozenset(downloads))
        monkeypatch.setattr(era.pythons, "default_python", lambda: "3.11")
        return index

    return install


def fit(res: Resolution, tmp_path: Path, *, choose: bool = True) -> Resolution:
    return era.fit(res, Paths(tmp_path / "home"), choose=choose, now=NOW)


NUMPY_2021 = {"numpy": [Release("1.20", "2021-01-30", frozenset({"3.7", "3.8", "3.9"}))]}


def test_the_newest_python_of_the_date_when_everything_has_a_wheel(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.6.15", "3.9.18", "3.11.7"))
    out = fit(_res(tmp_path, ["numpy"]), tmp_path)
    spec = out.spec
    assert (spec.python, spec.wheels_only) == ("3.9", True)
    # The kernel's own packages: a cool-down before the notebook's date.
    assert spec.kernel_as_of == "2021-05-25T00:00:00Z"
    assert spec.floating == ("ipykernel", "tornado")
    assert out.python_detail.startswith("3.9: the newest Python as of 2021-06-01")


def test_the_python_the_notebook_last_ran_on_comes_first(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.7.16", "3.9.18", "3.11.7"))
    out = fit(_res(tmp_path, ["numpy"], recorded="3.7.3"), tmp_path)
    assert out.spec.python == "3.7"
    assert "the notebook last ran on Python 3.7.3" in out.python_detail


def test_an_older_python_when_the_dates_packages_have_no_wheels_for_newer(tmp_path, fake):
    old = {"oldpkg": [Release("1.0", "2020-01-01", frozenset({"3.6"}))]}
    fake(old, _machine("3.6.15", "3.9.18", "3.11.7"))
    out = fit(_res(tmp_path, ["oldpkg"]), tmp_path)
    assert (out.spec.python, out.spec.wheels_only) == ("3.6", True)
    assert "(3.9 would not install them)" in out.python_detail


def test_source_builds_only_when_no_python_has_wheels(tmp_path, fake):
    sdist = {"sdistpkg": [Release("1.0", "2020-01-01", frozenset())]}
    fake(sdist, _machine("3.6.15", "3.9.18", "3.11.7"))
    out = fit(_res(tmp_path, ["sdistpkg"]), tmp_path)
    assert (out.spec.python, out.spec.wheels_only) == ("3.9", False)
    assert "some are built from source" in out.python_detail


def test_pythons_here_before_ones_uv_would_download(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.8.18", "3.11.7"), downloads={"3.9", "3.10", "3.11"})
    assert fit(_res(tmp_path, ["numpy"]), tmp_path).spec.python == "3.8"
    fake(NUMPY_2021, _machine("3.11.7"), downloads={"3.9", "3.10", "3.11"})
    out = fit(_res(tmp_path, ["numpy"]), tmp_path)
    assert out.spec.python == "3.9" and "(uv installs it)" in out.python_detail


def test_a_declared_python_is_kept_and_the_kernel_moves_to_the_oldest_date_that_works(
    tmp_path, fake
):
    numpy = {"numpy": [Release("1.21", "2021-05-01", ALL)]}
    fake(numpy, _machine("3.10.13", "3.11.7"))
    out = fit(_res(tmp_path, ["numpy"], python="3.10"), tmp_path)
    spec = out.spec
    assert (spec.python, spec.wheels_only) == ("3.10", True)
    # No tornado wheel for 3.10 before 2022-07-03: the kernel moves just past it, not to today.
    assert "2022-07-03T00:00:00Z" < spec.kernel_as_of <= "2022-07-17T00:00:00Z"
    assert spec.floating == ("ipykernel", "matplotlib-inline", "tornado")
    assert "the oldest date they install on Python 3.10" in " ".join(out.notes)


def test_a_kernel_package_coupled_to_a_dated_one_stays_with_it(tmp_path, fake):
    mpl = {"matplotlib": [Release("3.4", "2021-05-01", ALL)]}
    fake(mpl, _machine("3.10.13", "3.11.7"))
    spec = fit(_res(tmp_path, ["matplotlib"], python="3.10"), tmp_path).spec
    assert "matplotlib-inline" not in spec.floating  # stays at the notebook's date
    assert spec.floating == ("ipykernel", "tornado")


def test_today_takes_the_kernel_a_cool_down_earlier(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.9.18", "3.11.7"))
    res = _res(tmp_path, ["numpy"], as_of="2025-06-01T00:00:00Z", source="now")
    spec = fit(res, tmp_path).spec
    assert spec.python == "3.9"  # 2021's numpy has no wheel for 3.11
    assert spec.kernel_as_of == "2025-05-25T00:00:00Z"
    assert set(spec.floating) == {"ipykernel", "matplotlib-inline", "tornado"}


def test_answers_are_kept_so_fitting_again_asks_nothing(tmp_path, fake):
    index = fake(NUMPY_2021, _machine("3.6.15", "3.9.18", "3.11.7"))
    first = fit(_res(tmp_path, ["numpy"]), tmp_path)
    asked = len(index.asked)
    assert asked and fit(_res(tmp_path, ["numpy"]), tmp_path).spec == first.spec
    assert len(index.asked) == asked


def test_engines_that_do_not_choose_only_date_the_kernel(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.9.18", "3.11.7"))
    spec = fit(_res(tmp_path, ["numpy"]), tmp_path, choose=False).spec
    assert spec.python == "3.11" and spec.kernel_as_of is not None


def test_nothing_to_fit_without_a_date_or_python_packages(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.9.18"))
    res = _res(tmp_path, ["numpy"])
    locked = dataclasses.replace(res, spec=dataclasses.replace(res.spec, as_of=None))
    assert fit(locked, tmp_path) == locked


def test_the_fitted_spec_has_its_own_id_and_old_ids_stay():
    plain = EnvSpec(python="3.9", as_of="2021-06-01T00:00:00Z")
    assert "kernel_as_of" not in plain.identity() and "wheels_only" not in plain.identity()
    fitted = dataclasses.replace(plain, kernel_as_of=plain.as_of, wheels_only=True)
    assert fitted.env_id != plain.env_id
    moved = dataclasses.replace(fitted, kernel_as_of="2022-07-10T00:00:00Z", floating=("a",))
    assert len({plain.env_id, fitted.env_id, moved.env_id}) == 3


def test_a_python_2_notebook_is_told_it_gets_python_3(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.9.18", "3.11.7"))
    out = fit(_res(tmp_path, ["numpy"], recorded="2.7.15"), tmp_path)
    assert out.spec.python == "3.9"
    assert any(
        "last ran on Python 2.7.15: uv builds environments for Python 3.6" in n for n in out.notes
    )


def test_a_new_notebook_is_fitted_without_asking_anything(tmp_path, fake):
    """Nothing declared and dated today (a new notebook, the launcher's cards): Orbit's own
    Python, the kernel's packages a cool-down before today, and not one question to uv."""
    index = fake({}, _machine("3.9.18", "3.11.7"))
    res = _res(tmp_path, [], as_of="2025-06-01T00:00:00Z", source="now")
    out = fit(res, tmp_path)
    assert index.asked == []
    spec = out.spec
    assert (spec.python, spec.kernel_as_of, spec.floating) == ("3.11", "2025-05-25T00:00:00Z", ())
    assert out.python_detail == "3.11: the Python Orbit runs on; only the kernel's own packages"
    # The server stamps that date into the notebook: the same environment after.
    stamped = _res(tmp_path, [], as_of="2025-06-01T00:00:00Z", source="metadata.orbit")
    assert fit(stamped, tmp_path).spec == spec


def test_a_stamped_date_fits_as_the_date_it_was_stamped_from(tmp_path, fake):
    fake(NUMPY_2021, _machine("3.9.18", "3.11.7"))
    now = fit(_res(tmp_path, ["numpy"], as_of="2025-06-01T00:00:00Z", source="now"), tmp_path)
    stamp = _res(tmp_path, ["numpy"], as_of="2025-06-01T00:00:00Z", source="metadata.orbit")
    assert fit(stamp, tmp_path).spec == now.spec


def test_uv_is_told_each_packages_date(tmp_path):
    from jupyter_orbit.ecosystems.pypi import PyPI

    pypi = PyPI(Paths(tmp_path))
    own = Requirement("pypi", "ipykernel", "ipykernel", Origin("kernel recipe", level=Level.RECIPE))
    mine = Requirement("pypi", "numpy", "numpy", Origin("requirements.txt"))
    dated = EnvSpec(
        requirements=(own, mine),
        as_of="2018-06-01T00:00:00Z",  # before uv's setuptools: build tools are not dated
        kernel_as_of="2020-11-04T00:00:00Z",
        floating=("ipykernel", "tornado"),
        wheels_only=True,
    )
    assert pypi.date_args(dated, "3.6") == [
        "--exclude-newer",
        "2018-06-01T00:00:00Z",
        "--exclude-newer-package=setuptools=2019-03-01T00:00:00Z",
        "--exclude-newer-package=wheel=2019-03-01T00:00:00Z",
        "--only-binary",
        ":all:",
        "--exclude-newer-package=ipykernel=2020-11-04T00:00:00Z",
        "--exclude-newer-package=tornado=2020-11-04T00:00:00Z",
    ]
    kernel_only = EnvSpec(
        requirements=(own,), as_of="2025-06-01T00:00:00Z", kernel_as_of="2025-05-25T00:00:00Z"
    )
    assert pypi.date_args(kernel_only, "3.11") == ["--exclude-newer", "2025-05-25T00:00:00Z"]
    # Kernel images are resolved by the same rule (not floated to the base image's versions).
    build = " ".join(PyPI.image_stage(dated).build)
    assert "--exclude-newer 2018-06-01T00:00:00Z" in build and "--only-binary :all:" in build
    assert "--exclude-newer-package=tornado=2020-11-04T00:00:00Z" in build
    assert "orbit-pins floating" not in build
    unfitted = dataclasses.replace(dated, kernel_as_of=None, floating=(), wheels_only=False)
    assert "orbit-pins floating" in " ".join(PyPI.image_stage(unfitted).build)


def test_the_fit_keeps_its_versions_for_the_build(tmp_path, fake):
    """The build's resolve step compares uv's cached answer with these (``pypi_answers``)."""
    from jupyter_orbit.ecosystems import pypi_answers

    fake(NUMPY_2021, _machine("3.9.18", "3.11.7"))
    spec = fit(_res(tmp_path, ["numpy"]), tmp_path).spec
    known = pypi_answers.recall(pypi_answers.key(spec, "3.9.18"))
    assert known is not None and "numpy==1.20" in known
    assert any(p.startswith("ipykernel==") for p in known)
    assert pypi_answers.recall(pypi_answers.key(spec, "3.9.17")) is None


def test_a_fit_answered_from_its_cache_leaves_the_build_to_ask_the_index(tmp_path, fake):
    """The fit's answers are kept on disk; an index without upload dates may serve more by now,
    so only what the index answered in this process spares the build its question."""
    from jupyter_orbit.ecosystems import pypi_answers

    fake(NUMPY_2021, _machine("3.9.18", "3.11.7"))
    spec = fit(_res(tmp_path, ["numpy"]), tmp_path).spec
    question = pypi_answers.key(spec, "3.9.18")
    pypi_answers._GIVEN.clear()  # a later process: the same fit, now from the fit's cache
    again = fit(_res(tmp_path, ["numpy"]), tmp_path).spec
    assert again == spec and pypi_answers.recall(question) is None


def test_the_kernel_s_packages_are_resolved_once_per_python_and_date(tmp_path, fake):
    """Two notebooks of the same date on the same Python: the kernel's own packages (alone, at
    their date) are asked about once (asked ahead in a thread the first time, then kept)."""
    more = {"six": [Release("1.16", "2021-05-05", ALL)]}
    index = fake({**NUMPY_2021, **more}, _machine("3.9.18"))
    a = fit(_res(tmp_path, ["numpy"], as_of="2025-06-01T00:00:00Z", source="now"), tmp_path)
    b = fit(_res(tmp_path, ["six"], as_of="2025-06-01T00:00:00Z", source="now"), tmp_path)
    assert a.spec.kernel_as_of == b.spec.kernel_as_of == "2025-05-25T00:00:00Z"
    kernel_alone = [
        q for q in index.asked if "2025-05-25T00:00:00Z" in q and "--exclude-newer" in q
    ]
    assert len(kernel_alone) == 1, kernel_alone


def test_the_kernel_s_question_is_asked_while_the_notebook_s_is_answered(
    tmp_path, fake, monkeypatch
):
    """The question that dates the kernel's packages apart from the notebook's is asked in the
    thread while uv answers the notebook's own (it used to wait for that answer), and its answer
    is the one the fit takes: the index is asked each question once."""
    import threading

    index = fake(NUMPY_2021, _machine("3.9.18"))
    answer = era._Fitter._run
    moved = threading.Event()

    questions = []

    def run(self, args, lines, constraints, key):
        questions.append((tuple(args), tuple(lines)))
        if any(a.startswith("--exclude-newer-package=") for a in args):
            moved.set()
        elif lines == ["numpy"] and "--no-deps" not in args:  # the notebook's own question
            assert moved.wait(10), "the kernel's question waited for this answer"
        return answer(self, args, lines, constraints, key)

    monkeypatch.setattr(era._Fitter, "_run", run)
    res = _res(tmp_path, ["numpy"], as_of="2025-06-01T00:00:00Z", source="now")
    spec = fit(res, tmp_path).spec
    assert spec.python == "3.9" and spec.kernel_as_of == "2025-05-25T00:00:00Z"
    assert set(spec.floating) == {"ipykernel", "matplotlib-inline", "tornado"}
    assert len(questions) == len(set(questions)) == len(index.asked) == 5, questions
