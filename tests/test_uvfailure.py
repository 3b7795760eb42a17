"""uv's failures read into Orbit's error classes: each told as what it is, retried when a retry
can cure it. The texts are uv 0.13's own words (captured from real runs against a local index)."""

from __future__ import annotations

import pytest

from jupyter_orbit import asof, uvfailure
from jupyter_orbit.errors import (
    BuildError,
    ConflictError,
    IndexInconsistent,
    IndexUnreachable,
    NoSuchVersion,
    NoWheelError,
    PackageNotFound,
)
from jupyter_orbit.uvcli import uv_failure

IDX = "http://127.0.0.1:40633/simple/"
ENV = {"UV_DEFAULT_INDEX": IDX}

MISSING = """error: No solution found when resolving dependencies
  cause: Because orbit-nope was not found in the package registry and you require orbit-nope, we can conclude that your requirements are unsatisfiable."""
NO_VERSION = """error: No solution found when resolving dependencies
  cause: Because there is no version of orbit-a==3.0 and you require orbit-a==3.0, we can conclude that your requirements are unsatisfiable."""
CONFLICT = """error: No solution found when resolving dependencies
  cause: Because all versions of orbit-b depend on orbit-a<2 and you require orbit-a==2.0, we can conclude that your requirements and all versions of orbit-b are incompatible.
         And because you require orbit-b, we can conclude that your requirements are unsatisfiable."""
NEEDS_PYTHON = """error: No solution found when resolving dependencies
  cause: Because the current Python version (3.11.7) does not satisfy Python>=3.13 and orbit-new==1.0 depends on Python>=3.13, we can conclude that orbit-new==1.0 cannot be used.
         And because only orbit-new==1.0 is available and you require orbit-new, we can conclude that your requirements are unsatisfiable."""
TAGS = """error: No solution found when resolving dependencies
  cause: Because orbit-cp==1.0 has no wheels with a matching Python implementation tag (e.g., `cp311`) and only orbit-cp==1.0 is available, we can conclude that all versions of orbit-cp cannot be used.
         And because you require orbit-cp, we can conclude that your requirements are unsatisfiable.

hint: You require CPython 3.11 (`cp311`), but we only found wheels for `orbit-cp` (v1.0) with the following Python implementation tags: `cp312`, `cp313`"""
REFUSED = """error: Request failed after 3 retries in 10.8s
  cause: Failed to fetch: http://127.0.0.1:9/simple/orbit-a/
  cause: error sending request for url (http://127.0.0.1:9/simple/orbit-a/)
  cause: client error (Connect)
  cause: tcp connect error
  cause: Connection refused (os error 111)"""
TIMEOUT = """error: Failed to fetch: http://127.0.0.1:40633/simple/orbit-a/
  cause: error sending request for url (http://127.0.0.1:40633/simple/orbit-a/)
  cause: operation timed out"""
NOT_SERVED = """Using Python 3.11.7 environment at: /tmp/venv
Resolved 1 package in 3ms
error: Failed to download `orbit-a==1.0`
  cause: Failed to fetch: http://127.0.0.1:40633/files/orbit_a-1.0-py3-none-any.whl
  cause: HTTP status client error (404 Not Found) for url (http://127.0.0.1:40633/files/orbit_a-1.0-py3-none-any.whl)"""


def diagnose(text: str, args=("pip", "compile", "-"), env=ENV) -> uvfailure.Diagnosis:
    found = uvfailure.diagnose(args, text.splitlines(), env)
    assert found is not None
    return found


def test_a_missing_name_is_told_with_the_index_and_never_retried():
    d = diagnose(MISSING)
    assert isinstance(d.error, PackageNotFound) and d.error.package == "orbit-nope"
    assert d.error.message == f"no package named orbit-nope on {IDX}"
    assert "orbit search orbit-nope" in d.error.hint and "loosen" not in d.error.hint
    assert d.retries(["pip", "compile"]) == 0


def test_a_missing_version_is_retried_with_fresh_data_then_told_as_missing():
    d = diagnose(NO_VERSION)
    assert isinstance(d.error, NoSuchVersion) and d.refresh == ("orbit-a",)
    assert d.error.message == f"there is no version 3.0 of orbit-a on {IDX}"
    assert d.retries(["pip", "compile", "-"]) == 1
    assert d.retries(["pip", "compile", "-", "--offline"]) == 0  # the cache will not change
    final = d.final(["pip", "compile", "-"], 2)
    assert (
        isinstance(final, NoSuchVersion) and "(tried 2 times, refreshing its data)" in final.message
    )
    assert "conflict" not in final.message and "loosen" not in final.hint


def test_a_version_missing_when_installing_what_was_resolved_is_the_index_s_inconsistency():
    d = diagnose(NO_VERSION, args=("pip", "sync", "lock.txt"))
    assert d.retries(["pip", "sync"]) == 2
    final = d.final(["pip", "sync", "lock.txt"], 3)
    assert isinstance(final, IndexInconsistent)
    assert final.message.startswith(f"the package index {IDX} answered inconsistently: it listed")
    assert "orbit-a 3.0" in final.message and "(tried 3 times" in final.message
    assert "try again in a few minutes" in final.hint


def test_conflicting_pins_are_named():
    d = diagnose(CONFLICT)
    assert isinstance(d.error, ConflictError) and d.retries(["pip", "compile"]) == 0
    assert d.error.message.startswith("these requirements conflict: orbit-a==2.0, orbit-b")
    assert "all versions of orbit-b depend on orbit-a<2" in d.error.message
    assert "loosen one of orbit-a==2.0 and orbit-b" in d.error.hint


def test_no_release_for_this_python_names_the_pythons_that_have_one(tmp_path):
    d = uvfailure.diagnose(["pip", "compile"], TAGS.splitlines(), ENV, tmp_path)
    assert d is not None and isinstance(d.error, NoWheelError)
    assert d.error.message == (
        "orbit-cp 1.0 has no wheel for this Python (cp311); it has wheels for Python 3.12, 3.13"
    )
    assert "--python" in d.error.hint
    d = diagnose(NEEDS_PYTHON)
    assert isinstance(d.error, NoWheelError)
    assert d.error.message == (
        "orbit-new 1.0 needs Python>=3.13 and this environment's Python is 3.11.7"
    )


@pytest.mark.parametrize(
    ("text", "reason"), [(REFUSED, "connection refused"), (TIMEOUT, "timed out")]
)
def test_an_index_that_cannot_be_reached_is_retried_once_then_named(text: str, reason: str):
    env = {"UV_INDEX": "http://127.0.0.1:9/simple/", "UV_DEFAULT_INDEX": IDX}
    d = diagnose(text, env=env)
    assert isinstance(d.error, IndexUnreachable) and d.retries(["pip", "compile"]) == 1
    index = "http://127.0.0.1:9/simple/" if "127.0.0.1:9/" in text else IDX
    assert d.error.message == f"could not reach the package index {index} ({reason})"
    assert d.refresh == ("orbit-a",)
    assert "conflict" not in d.error.message


def test_a_listed_file_the_index_does_not_serve_is_an_inconsistency():
    d = diagnose(NOT_SERVED, args=("pip", "sync", "lock.txt"))
    assert isinstance(d.error, IndexInconsistent) and d.refresh == ("orbit-a",)
    assert "lists orbit-a 1.0 but does not serve its file" in d.error.message
    assert d.retries(["pip", "sync"]) == 2


def test_the_notice_says_what_happened_and_what_comes_next():
    d = diagnose(NO_VERSION)
    assert d.notice(1, 2, 1.0) == (
        f"{IDX} did not list orbit-a 3.0; trying again in 1s with fresh index data for "
        "orbit-a (try 2 of 2)"
    )


def test_index_urls_follow_uv_s_order_and_hide_credentials(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("--index-url https://user:secret@files.example/simple\nsix==1.16\n")
    env = {"UV_INDEX": "extra=https://extra.example/simple", "UV_DEFAULT_INDEX": IDX}
    urls = uvfailure.index_urls(["pip", "sync", str(lock)], env)
    assert urls == ["https://extra.example/simple/", "https://files.example/simple/"]
    assert all("secret" not in u for u in urls)
    assert uvfailure.index_urls(["pip", "compile"], {}) == [uvfailure.PYPI]


def test_uv_failure_keeps_the_date_s_explanation_first():
    from tests.test_asof import _PIN

    assert type(uv_failure(["pip", "compile"], _PIN.splitlines())).__name__ == "AsOfError"


def test_no_as_of_hint_where_no_date_can_help(tmp_path):
    from tests.conftest import make_notebook
    from tests.test_asof import res_of

    # a dated notebook: a name that does not exist is not cured by `--as-of now`
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata={"orbit": {"as_of": "2024-01-01"}})
    res = res_of(nb)
    missing = diagnose(MISSING).error
    assert asof.explain(missing, res) is missing
    unreachable = diagnose(REFUSED).error
    assert asof.explain(unreachable, res) is unreachable
    conflict = diagnose(CONFLICT).error  # a later date may bring a version that fits
    assert "--as-of now" in asof.explain(conflict, res).hint
    assert isinstance(asof.explain(BuildError("boom", "fix"), res), BuildError)
