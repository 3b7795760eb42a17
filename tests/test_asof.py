"""The resolution date: parsing, where it comes from (precedence), git, "now", failures told."""

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jupyter_orbit import asof
from jupyter_orbit.errors import AsOfError, BuildError, InputError
from jupyter_orbit.model import Environment
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import recall_now, remember_now
from jupyter_orbit.resolve import resolve
from jupyter_orbit.uvcli import uv_failure
from tests.conftest import make_notebook
from tests.support.gitrepo import commit_all, git, init

NOW = datetime(2025, 3, 4, 15, 30, 12, tzinfo=UTC)
TODAY = "2025-03-04T00:00:00Z"
JUV_BLOCK = '# /// script\n# dependencies = ["six"]\n# ///\nimport six'


def res_of(target: Path, **kw):
    return resolve(target, default_python="3.11", now=kw.pop("now", NOW), **kw)


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-05-01", "2017-05-01T00:00:00Z"),
        ("2017-05-01T12:30:00Z", "2017-05-01T12:30:00Z"),
        ("2017-05-01T12:30:00+02:00", "2017-05-01T10:30:00Z"),
        ("2017-05-01T12:30:00", "2017-05-01T12:30:00Z"),  # no offset: UTC
        ("2017-05-01T12:30:00.987654Z", "2017-05-01T12:30:00Z"),
        ("now", TODAY),
        (" NOW ", TODAY),
        ("2025-03-04", TODAY),  # today is not in the future
    ],
)
def test_dates_are_canonical_utc(text, expected):
    assert asof.parse(text, now=NOW, what="--as-of") == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "2017-13-01", "2023-02-29", "", "17-5-1", "2017/05/01"]
)
def test_malformed_date_is_refused_with_the_fix(text):
    with pytest.raises(InputError, match=r"--as-of is not a date") as e:
        asof.parse(text, now=NOW, what="--as-of")
    assert "2017-05-01" in e.value.hint and "now" in e.value.hint


@pytest.mark.parametrize("text", ["2025-03-05", "2025-03-04T15:31:00Z", "2999-01-01"])
def test_future_date_is_refused(text):
    with pytest.raises(InputError, match="is in the future") as e:
        asof.parse(text, now=NOW, what="--as-of")
    assert "now" in e.value.hint


def test_python_of_a_date_and_debian_snapshot():
    assert asof.python_of("2017-05-01T00:00:00Z") == "3.6"
    assert asof.python_of("2021-06-01T00:00:00Z") == "3.9"
    assert asof.python_of("2015-01-01T00:00:00Z") == "3.4"
    assert asof.python_of("2009-01-01T00:00:00Z") is None
    assert asof.python_released("3.10") == "2021-10-04T00:00:00Z"
    assert asof.pythons_released("2017-05-01T00:00:00Z")[-2:] == ["3.5", "3.6"]
    assert asof.debian_snapshot("2017-05-01T00:00:00Z", "stretch") == (
        "deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/20170501T000000Z/ "
        "stretch main"
    )


# -- precedence ------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose environment files were last committed on 2021-06-01 (UTC)."""
    r = init(tmp_path / "repo")
    (r / "requirements.txt").write_text("six\n")
    make_notebook(r / "nb.ipynb", "import six")
    # 01:30 in UTC+2 is still 2021-06-01 in UTC: the date is the UTC day.
    commit_all(r, "2021-06-02T01:30:00+02:00")
    return r


def test_git_date_is_the_day_of_the_last_commit_touching_the_environment(repo: Path):
    res = res_of(repo / "nb.ipynb")
    assert (res.spec.as_of, res.as_of_source) == ("2021-06-01T00:00:00Z", "git")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert "nb.ipynb, requirements.txt last committed 2021-06-02T01:30:00+02:00" in res.as_of_detail
    assert head[:10] in res.as_of_detail

    (repo / "README.md").write_text("unrelated\n")
    commit_all(repo, "2023-01-01T12:00:00Z")
    assert res_of(repo / "nb.ipynb").spec.as_of == "2021-06-01T00:00:00Z"

    (repo / "requirements.txt").write_text("six\nattrs\n")
    commit_all(repo, "2022-02-02T12:00:00Z")
    assert res_of(repo / "nb.ipynb").spec.as_of == "2022-02-02T00:00:00Z"


def test_files_named_by_requirements_count_too(repo: Path):
    (repo / "base.txt").write_text("attrs\n")
    (repo / "requirements.txt").write_text("-r base.txt\nsix\n")
    commit_all(repo, "2022-01-01T00:00:00Z")
    (repo / "base.txt").write_text("attrs\ncolorama\n")
    commit_all(repo, "2022-03-03T00:00:00Z")
    res = res_of(repo / "nb.ipynb")
    assert res.spec.as_of == "2022-03-03T00:00:00Z" and "base.txt" in res.as_of_detail


@pytest.mark.parametrize("change", ["requirements", "notebook", "untracked"])
def test_uncommitted_changes_mean_now(repo: Path, change: str):
    nb = repo / "nb.ipynb"
    if change == "requirements":
        (repo / "requirements.txt").write_text("six\nattrs\n")
    elif change == "notebook":
        make_notebook(nb, "import six", "print(1)")
    else:
        nb = make_notebook(repo / "new.ipynb", "import six")
    res = res_of(nb)
    assert (res.spec.as_of, res.as_of_source) == (TODAY, "now")
    assert "uncommitted changes" in res.as_of_detail


def test_file_names_are_not_patterns(repo: Path):
    star = make_notebook(repo / "a*.ipynb", "1")
    commit_all(repo, "2021-07-07T00:00:00Z")
    make_notebook(repo / "ab.ipynb", "2")
    commit_all(repo, "2023-03-03T00:00:00Z")
    assert res_of(star).spec.as_of == "2021-07-07T00:00:00Z"


def test_crlf_checkout_still_matches_its_commit(repo: Path):
    (repo / "requirements.txt").write_bytes(b"six\r\n")  # as core.autocrlf checks it out
    assert res_of(repo / "nb.ipynb").as_of_source == "git"


def test_shallow_clone_is_said(repo: Path, tmp_path: Path):
    (repo / "README.md").write_text("x\n")
    commit_all(repo, "2023-01-01T00:00:00Z")
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{repo}", "clone")
    res = res_of(tmp_path / "clone" / "nb.ipynb")
    assert res.as_of_source == "git" and "shallow clone" in res.as_of_detail
    assert res.spec.as_of == "2023-01-01T00:00:00Z"  # the only commit there is


def test_no_repository_or_no_git_means_now(tmp_path: Path, repo: Path, monkeypatch):
    (tmp_path / "plain" / ".git").mkdir(parents=True)  # a marker, not a repository
    nb = make_notebook(tmp_path / "plain" / "nb.ipynb", "1")
    res = res_of(nb)
    assert (res.spec.as_of, res.as_of_source) == (TODAY, "now")
    assert res.as_of_detail == "no stamp, lock or git history; today (UTC)"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert res_of(repo / "nb.ipynb").as_of_source == "now"


def test_stamps_beat_git_and_metadata_beats_pep723(repo: Path):
    nb = repo / "nb.ipynb"
    block = JUV_BLOCK.replace(
        "# ///\n", '#\n# [tool.uv]\n# exclude-newer = "2018-01-01T00:00:00Z"\n# ///\n'
    )
    make_notebook(nb, block)
    commit_all(repo, "2021-07-01T00:00:00Z")
    res = res_of(nb)
    assert (res.spec.as_of, res.as_of_source) == ("2018-01-01T00:00:00Z", "pep723")
    assert "exclude-newer" in res.as_of_detail

    make_notebook(nb, block, metadata={"orbit": {"as_of": "2019-02-03"}})
    res = res_of(nb)
    assert (res.spec.as_of, res.as_of_source) == ("2019-02-03T00:00:00Z", "metadata.orbit")
    assert any("as_of from metadata.orbit" in i.reason for i in res.ignored) or any(
        "as_of from metadata.orbit" in n for n in res.notes
    )


def test_command_line_beats_everything(repo: Path):
    nb = make_notebook(repo / "nb.ipynb", "1", metadata={"orbit": {"as_of": "2019-02-03"}})
    res = res_of(nb, as_of="2016-01-01")
    assert (res.spec.as_of, res.as_of_source) == ("2016-01-01T00:00:00Z", "command line")
    assert res.as_of_detail == "--as-of 2016-01-01"
    assert res_of(nb, as_of="now").spec.as_of == TODAY
    assert {s.kind: s.provides for s in res.sources}["command line"] == ("as_of",)


def test_a_lock_decides_unless_the_command_line_says_otherwise(repo: Path):
    meta = {"uv.lock": "version = 1\n", "orbit": {"as_of": "2019-02-03"}}
    nb = make_notebook(repo / "nb.ipynb", JUV_BLOCK, metadata=meta)
    res = res_of(nb)
    assert (res.spec.as_of, res.as_of_source) == (None, "lock")
    assert res.spec.lock is not None and "uv.lock in nb.ipynb" in res.as_of_detail
    assert any("not used while the lock decides" in n for n in res.notes)

    res = res_of(nb, as_of="2020-01-01")
    assert res.spec.lock is None and res.spec.as_of == "2020-01-01T00:00:00Z"
    assert any("lock is set aside" in n for n in res.notes)
    assert all("lock" not in s.provides for s in res.sources)


def test_future_stamp_names_the_notebook_and_the_fix(tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata={"orbit": {"as_of": "2030-01-01"}})
    with pytest.raises(
        InputError, match=r"metadata\.orbit\.as_of in nb\.ipynb 2030-01-01 is in the"
    ) as e:
        res_of(nb)
    assert e.value.path == nb and "orbit stamp nb.ipynb now" in e.value.hint


def test_the_hash_changes_with_the_date_and_only_with_its_meaning(repo: Path):
    nb = repo / "nb.ipynb"
    ids = {res_of(nb, as_of=d).spec.env_id for d in ("2020-01-01", "2020-01-01T00:00:00Z")}
    assert len(ids) == 1
    assert res_of(nb, as_of="2020-01-02").spec.env_id not in ids
    morning, evening = NOW.replace(hour=0, minute=1), NOW.replace(hour=23, minute=59)
    plain = make_notebook(repo.parent / "plain" / "nb.ipynb", "1")
    assert res_of(plain, now=morning).spec.env_id == res_of(plain, now=evening).spec.env_id
    assert (
        res_of(plain, now=morning).spec.env_id
        != res_of(plain, now=NOW + timedelta(days=1)).spec.env_id
    )


def test_now_reuses_the_environment_built_for_the_same_requirements(tmp_path: Path):
    paths = Paths(tmp_path / "home")
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["six"]}}}
    )
    recall = recall_now(paths)
    first = res_of(nb, recall=recall)
    assert first.spec.as_of == TODAY
    built = paths.envs_dir("local") / first.spec.env_id
    built.mkdir(parents=True)
    (built / "orbit-env.json").write_text("{}")  # what the local engine writes last
    env = Environment("local", first.spec.env_id, built, built / "bin" / "python")
    remember_now(paths, first, first.spec.as_of, env)

    later = NOW + timedelta(days=40)
    again = res_of(nb, recall=recall, now=later)
    assert (again.spec.as_of, again.spec.env_id) == (TODAY, first.spec.env_id)
    assert "built for these requirements" in again.as_of_detail
    assert res_of(nb, recall=recall, now=later, as_of="now").spec.as_of == "2025-04-13T00:00:00Z"

    make_notebook(nb, "1", metadata={"orbit": {"packages": {"pypi": ["six", "attrs"]}}})
    assert res_of(nb, recall=recall, now=later).spec.as_of == "2025-04-13T00:00:00Z"
    make_notebook(nb, "1", metadata={"orbit": {"packages": {"pypi": ["six"]}}})
    (built / "orbit-env.json").unlink()  # the environment is gone: today again
    assert res_of(nb, recall=recall, now=later).spec.as_of == "2025-04-13T00:00:00Z"


# -- git is run safely -------------------------------------------------------------------------


def _trap(folder: Path, name: str, passthrough: bool = False) -> Path:
    script = folder / f"{name}.sh"
    script.write_text(
        f'#!/bin/sh\ntouch "{folder}/ran-{name}"\n' + ("cat\n" if passthrough else "")
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_repository_configuration_cannot_run_anything(repo: Path, tmp_path: Path):
    traps = tmp_path / "traps"
    traps.mkdir()
    (repo / ".gitattributes").write_text("*.ipynb filter=evil\n")
    commit_all(repo, "2021-06-01T12:00:00Z")
    # A signed-looking commit, so that log.showSignature has something to check.
    header, _, message = git(repo, "cat-file", "commit", "HEAD").partition("\n\n")
    signed = (
        header
        + "\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----"
        + "\n\n"
        + message
    )
    oid = _git_stdin(repo, signed, "hash-object", "-t", "commit", "-w", "--stdin")
    git(repo, "update-ref", "HEAD", oid)
    for key, value in {
        "core.fsmonitor": _trap(traps, "fsmonitor"),
        "log.showSignature": "true",
        "gpg.program": _trap(traps, "gpg"),
        "filter.evil.clean": f"{_trap(traps, 'filter', passthrough=True)} %f",
        "core.pager": _trap(traps, "pager"),
    }.items():
        git(repo, "config", key, str(value))
    os.utime(repo / "nb.ipynb")  # stat no longer matches the index: status would re-hash it

    # The traps work: plain git runs them.
    git(repo, "status", "--porcelain")
    git(repo, "log", "-1")
    assert {p.name for p in traps.glob("ran-*")} >= {"ran-fsmonitor", "ran-gpg", "ran-filter"}
    for p in traps.glob("ran-*"):
        p.unlink()

    res = res_of(repo / "nb.ipynb")
    assert (res.spec.as_of, res.as_of_source) == ("2021-06-01T00:00:00Z", "git")
    assert list(traps.glob("ran-*")) == []


def _git_stdin(repo: Path, text: str, *args: str) -> str:
    import subprocess

    return subprocess.run(
        ["git", *args], cwd=repo, input=text, capture_output=True, text=True, check=True
    ).stdout.strip()


# -- failures told with the date ----------------------------------------------------------------

# uv 0.13's own words, for the three ways a date can fail a resolution.
_PIN = """error: No solution found when resolving dependencies
  cause: Because there is no version of orbit-asof-demo==2.0 and you require orbit-asof-demo==2.0, we can conclude that your requirements are unsatisfiable.

hint: `orbit-asof-demo` was filtered by `exclude-newer` to only include packages uploaded before 2021-06-01T00:00:00Z. The requested version, v2.0, was published at 2023-01-01T00:00:00Z. Consider using `exclude-newer-package` to override the cutoff for this package."""
_EARLY = """error: No solution found when resolving dependencies
  cause: Because there are no versions of orbit-asof-demo and you require orbit-asof-demo, we can conclude that your requirements are unsatisfiable.

hint: `orbit-asof-demo` was filtered by `exclude-newer` to only include packages uploaded before 2019-06-01T00:00:00Z. The latest version satisfying the requirement is v2.0, published at 2023-01-01T00:00:00Z. Consider using `exclude-newer-package` to override the cutoff for this package."""
_BUILD = """error: Failed to download and build `pandas==0.13.1`
  cause: Failed to resolve requirements from `setup.py` build
  cause: No solution found when resolving: `setuptools>=40.8.0`
  cause: Because only setuptools<=35.0.2 is available and you require setuptools>=40.8.0, we can conclude that your requirements are unsatisfiable.

hint: `setuptools` was filtered by `exclude-newer` to only include packages uploaded before 2017-06-01T00:00:00Z. The latest version satisfying the requirement is v84.2.1, published at 2026-10-20T19:01:35.678Z. Consider using `exclude-newer-package` to override the cutoff for this package."""


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (_PIN, "orbit-asof-demo 2.0 was published on 2023-01-01, after the as-of date 2021-06-01"),
        (
            _EARLY,
            "no version of orbit-asof-demo that fits had been published by the as-of date "
            "2019-06-01 (the newest, 2.0, is from 2023-01-01)",
        ),
        (
            _BUILD,
            "Failed to download and build pandas==0.13.1: its build needs setuptools newer than "
            "the as-of date 2017-06-01",
        ),
    ],
)
def test_uv_failures_caused_by_the_date_are_recognised(output: str, message: str):
    err = uv_failure(["pip", "compile"], output.splitlines())
    assert isinstance(err, AsOfError)
    assert err.message == message and "--as-of now" in err.hint


def test_explain_names_the_date_its_source_and_the_fixes(repo: Path):
    res = res_of(repo / "nb.ipynb")
    err = asof.explain(uv_failure(["pip", "compile"], _PIN.splitlines()), res)
    assert isinstance(err, AsOfError)
    assert err.message.endswith(f"; the date is from git: {res.as_of_detail}")
    assert "`--as-of now`" in err.hint and "`orbit stamp nb.ipynb DATE`" in err.hint
    assert "`--python 3.9`" in err.hint  # the newest Python on 2021-06-01

    other = asof.explain(BuildError("uv pip compile failed: boom", "fix it"), res)
    assert (
        other.message
        == f"uv pip compile failed: boom (resolving as of 2021-06-01, from git: {res.as_of_detail})"
    )
    assert other.hint.startswith("fix it; or use today's versions with `--as-of now`")

    locked = res_of(make_notebook(repo / "l.ipynb", JUV_BLOCK, metadata={"uv.lock": "x"}))
    plain = BuildError("boom", "fix it")
    assert asof.explain(plain, locked) is plain


def test_env_json_reports_the_date_and_its_source(orbit, repo: Path):
    r = orbit.run("env", str(repo / "nb.ipynb"), "--json")
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert (env["as_of"], env["as_of_source"]) == ("2021-06-01T00:00:00Z", "git")
    assert env["spec"]["as_of"] == env["as_of"] and "last committed" in env["as_of_detail"]

    cli = json.loads(
        orbit.run("env", str(repo / "nb.ipynb"), "--json", "--as-of", "2019-01-01").stdout
    )
    assert (cli["as_of"], cli["as_of_source"]) == ("2019-01-01T00:00:00Z", "command line")
    assert cli["env_id"] != env["env_id"]

    human = orbit.run("env", str(repo / "nb.ipynb"))
    assert (
        "as of     2021-06-01T00:00:00Z  (git: nb.ipynb, requirements.txt last committed"
        in human.stdout
    )

    (repo / "apt.txt").write_text("graphviz\n")
    commit_all(repo, "2021-06-03T00:00:00Z")
    apt = json.loads(orbit.run("env", str(repo / "nb.ipynb"), "--json").stdout)
    assert any("cannot honour the date for graphviz" in w for w in apt["plan"]["warnings"])


@pytest.mark.parametrize("bad", ["2999-01-01", "someday"])
def test_bad_command_line_date_exits_2_and_changes_nothing(orbit, repo: Path, bad: str):
    from tests.conftest import snapshot

    before = snapshot(repo)
    r = orbit.run("run", str(repo / "nb.ipynb"), "--yes", "--as-of", bad)
    assert r.returncode == 2
    assert "--as-of" in r.stderr and ("in the future" in r.stderr or "is not a date" in r.stderr)
    assert snapshot(repo) == before
    assert not (orbit.home / "envs" / "local").exists()  # no kernel environment built


def test_a_project_file_stating_a_date_is_its_source(tmp_path: Path):
    from jupyter_orbit.model import EnvSpec, Resolution, Source

    pyproject = tmp_path / "pyproject.toml"
    res = Resolution(
        spec=EnvSpec(as_of="2020-02-02"),
        target=tmp_path,
        notebook=None,
        project_root=tmp_path,
        project_dir=tmp_path,
        sources=(Source("pyproject.toml", pyproject, 3, ("as_of",)),),
        as_of_source="pyproject.toml",
    )
    settled = asof.settle(res, now=NOW)
    assert (settled.spec.as_of, settled.as_of_source) == ("2020-02-02T00:00:00Z", "pyproject.toml")
    assert settled.as_of_detail == f"the date in {pyproject}"


# -- the date remembered for a notebook (Orbit's state, not the notebook) -----------------------


def test_a_remembered_date_holds_over_edits_until_git_has_a_later_one(repo: Path, tmp_path: Path):
    from jupyter_orbit.notebook_dates import NotebookDates

    dates = NotebookDates(tmp_path / "dates")
    nb = repo / "nb.ipynb"
    first = res_of(nb, remembered=dates.recall)
    assert (first.spec.as_of, first.as_of_source) == ("2021-06-01T00:00:00Z", "git")
    assert dates.remember(first)  # what the server does once the kernel is prepared
    assert not dates.remember(first)  # already so: nothing written

    # An edit makes git call the notebook new ("now"); the remembered date keeps it as it was.
    make_notebook(nb, "import six", "print(1)")
    assert res_of(nb).as_of_source == "now"
    kept = res_of(nb, remembered=dates.recall)
    assert (kept.spec.as_of, kept.as_of_source) == ("2021-06-01T00:00:00Z", "remembered")
    assert "remembered for nb.ipynb since" in kept.as_of_detail
    assert "first from git: nb.ipynb, requirements.txt last committed" in kept.as_of_detail
    assert kept.spec.env_id == first.spec.env_id
    assert not dates.remember(kept)  # a remembered date is not remembered again

    # Work committed later (here, or pulled from others) moves the date, as in a fresh clone.
    commit_all(repo, "2022-05-05T10:00:00Z")
    later = res_of(nb, remembered=dates.recall)
    assert (later.spec.as_of, later.as_of_source) == ("2022-05-05T00:00:00Z", "git")

    # A stamp in the notebook and the command line still come first.
    make_notebook(nb, "import six", metadata={"orbit": {"as_of": "2019-02-03"}})
    assert res_of(nb, remembered=dates.recall).as_of_source == "metadata.orbit"
    assert res_of(nb, remembered=dates.recall, as_of="now").as_of_source == "command line"


def test_a_remembered_date_keeps_now_from_moving(tmp_path: Path):
    from jupyter_orbit.notebook_dates import NotebookDates

    dates = NotebookDates(tmp_path / "dates")
    nb = make_notebook(tmp_path / "work" / "nb.ipynb", "1")
    day_one = res_of(nb, remembered=dates.recall, now=NOW - timedelta(days=3))
    assert dates.remember(day_one)
    today = res_of(nb, remembered=dates.recall)
    assert (today.spec.as_of, today.as_of_source) == ("2025-03-01T00:00:00Z", "remembered")
    assert "first from now: no stamp, lock or git history" in today.as_of_detail
    # a date remembered "in the future" (a clock set wrong) is not used
    assert res_of(nb, remembered=dates.recall, now=NOW - timedelta(days=5)).as_of_source == "now"


def test_the_clock_is_the_real_time_unless_orbit_now_fixes_it():
    fixed = asof.clock({"ORBIT_NOW": "2025-06-01"})
    assert asof.canonical(fixed) == "2025-06-01T00:00:00Z"
    assert asof.canonical(asof.clock({"ORBIT_NOW": "2025-06-01T12:00:00+02:00"})) == (
        "2025-06-01T10:00:00Z"
    )
    real = asof.clock({})
    assert abs((real - asof.utcnow()).total_seconds()) < 60
    with pytest.raises(InputError, match="ORBIT_NOW is not a date or time: 'soon'"):
        asof.clock({"ORBIT_NOW": "soon"})
