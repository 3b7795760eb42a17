"""Where packages come from while bundles are installed (``jupyter_orbit.offline``): pure."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from jupyter_orbit import offline, uvcli
from jupyter_orbit.offline import Serving

SERVING = Serving(
    pypi="http://127.0.0.1:4321/simple/",
    npm="http://127.0.0.1:4322/",
    apt="file:///srv/repo",
    bundled={"pypi": ("numpy", "pandas", "python-dateutil"), "npm": ("is-odd",), "apt": ("jq",)},
    owner=os.getpid(),
)


def test_kernels_get_their_installers_pointed_at_the_stand_ins():
    assert SERVING.installer_env() == {
        "UV_DEFAULT_INDEX": "http://127.0.0.1:4321/simple/",
        "UV_INDEX_URL": "http://127.0.0.1:4321/simple/",
        "PIP_INDEX_URL": "http://127.0.0.1:4321/simple/",
        "npm_config_registry": "http://127.0.0.1:4322/",
    }
    assert Serving(npm="http://127.0.0.1:1/").installer_env() == {
        "npm_config_registry": "http://127.0.0.1:1/"
    }


def test_other_sources_are_left_out_while_a_bundle_is_in_force():
    env = {"UV_INDEX": "extra=https://example.org/simple", "PIP_EXTRA_INDEX_URL": "x", "A": "1"}
    out = SERVING.apply(dict(env))
    assert out["A"] == "1" and out["UV_DEFAULT_INDEX"] == SERVING.pypi
    assert "UV_INDEX" not in out and "PIP_EXTRA_INDEX_URL" not in out


def test_uv_runs_against_the_stand_in_only_inside_using():
    outside = uvcli.uv_environ({})
    assert outside.get("UV_DEFAULT_INDEX") == os.environ.get("UV_DEFAULT_INDEX")
    with offline.using(SERVING):
        env = uvcli.uv_environ({"UV_INDEX": "https://example.org/simple"})
        assert env["UV_DEFAULT_INDEX"] == SERVING.pypi and "UV_INDEX" not in env
        assert offline.registry("npm") == SERVING.npm
    assert offline.current() is None and offline.registry("npm") is None


def test_the_date_options_are_dropped_only_while_serving():
    args = [
        "pip",
        "compile",
        "--exclude-newer",
        "2025-06-01",
        "--exclude-newer-package",
        "x=1",
        "--exclude-newer=2024-01-01",
        "-",
        "--quiet",
    ]
    assert offline.uv_args(args) == args
    with offline.using(SERVING):
        assert offline.uv_args(args) == ["pip", "compile", "-", "--quiet"]


def test_not_found_becomes_not_in_the_bundle():
    uv = (
        "× No solution found when resolving dependencies:\n  ╰─▶ Because humanize was not found "
        "in the package registry and you require humanize, we can conclude that your "
        "requirements are unsatisfiable."
    )
    err = SERVING.not_bundled("pypi", uv)
    assert err is not None and isinstance(err, offline.NotBundled)
    assert str(err.message) == (
        "offline: humanize is not in the bundle (bundled: numpy, pandas, python-dateutil)"
    )
    assert "orbit bundle install" in (err.hint or "")
    # bundled in other versions: uv's own message says which
    assert (
        SERVING.not_bundled("pypi", "Because there is no version of Python_DateUtil==9.0") is None
    )
    npm = "npm error 404 Not Found - GET http://127.0.0.1:4322/left-pad - no such package available"
    assert SERVING.not_bundled("npm", npm).message.startswith("offline: left-pad is not in")
    apt = "E: Unable to locate package cowsay"
    assert "cowsay" in SERVING.not_bundled("apt", apt).message
    assert SERVING.not_bundled("pypi", "error: Failed to fetch: connection refused") is None
    assert offline.not_bundled("pypi", uv) is None  # nothing in force


def test_the_long_list_of_what_is_bundled_is_cut():
    many = Serving(bundled={"pypi": tuple(f"p{i:02}" for i in range(30))})
    err = many.not_bundled("pypi", "Because zz was not found in the package registry")
    assert err is not None and "p19, … (30 in all)" in err.message and "p20" not in err.message


def test_the_record_holds_only_while_its_owner_lives(tmp_path):
    (tmp_path / offline.RECORD).write_text(SERVING.to_json())
    assert Serving.recorded(tmp_path) == SERVING
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    gone = json.loads(SERVING.to_json()) | {"owner": int(dead)}
    (tmp_path / offline.RECORD).write_text(json.dumps(gone))
    assert Serving.recorded(tmp_path) is None
    (tmp_path / offline.RECORD).write_text("{not json")
    assert Serving.recorded(tmp_path) is None
    assert Serving.recorded(tmp_path / "nowhere") is None
