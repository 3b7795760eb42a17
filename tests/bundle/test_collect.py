"""Planning what goes into a bundle (pure), and turning installers' "not found" into
"offline: X is not in the bundle"."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.bundle import collect
from jupyter_orbit.bundle.archive import Manifest, Member
from jupyter_orbit.bundle.collect import Pin, Plan, Target
from jupyter_orbit.bundle.registries import AptRepository, NpmRegistry, PyPIIndex
from jupyter_orbit.bundle.store import InstalledBundle, Layers
from jupyter_orbit.errors import InputError

COMPILED = """\
idna==3.10 \\
    --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3
    # via -r requirements.in
numpy==2.2.6
six==1.17.0  # via -r requirements.in
colorama==0.4.6 ; sys_platform == 'win32'
"""


def test_pins_from_a_compiled_list():
    env = {"sys_platform": "linux"}
    pins = collect.parse_pins(COMPILED, environment={**_env(), **env})
    assert pins == [
        Pin(
            "idna",
            "3.10",
            frozenset({"946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"}),
            1,
        ),
        Pin("numpy", "2.2.6", frozenset(), 4),
        Pin("six", "1.17.0", frozenset(), 5),
    ]


def _env() -> dict[str, str]:
    from packaging.markers import default_environment

    return default_environment()


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("six>=1.0", "not an exact pin"),
        ("six", "not an exact pin"),
        ("six==1.*", "not an exact pin"),
        ("six @ https://example.org/six.whl", "not an exact pin"),
        ("--index-url https://evil.example/simple", "not allowed"),
        ("--extra-index-url=https://evil.example/simple", "not allowed"),
    ],
)
def test_anything_but_exact_pins_is_refused_with_its_line(line, match):
    with pytest.raises(InputError, match=match) as e:
        collect.parse_pins(f"six==1.17.0\n{line}\n", source="pins.txt")
    assert "pins.txt:2" in e.value.message


def _page(*files: tuple[str, str | None, int]) -> dict:
    return {
        "files": [
            {
                "filename": name,
                "url": f"../../packages/{name}",
                "hashes": {"sha256": sha} if sha else {},
                "size": size,
            }
            for name, sha, size in files
        ]
    }


def test_plan_chooses_the_best_wheel_for_the_target_else_the_sdist():
    target = Target("3.12", ("cp312-cp312-manylinux_2_17_x86_64", "py3-none-any"))
    pages = {
        "numpy": _page(
            ("numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.whl", "a" * 64, 10),
            ("numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.whl", "b" * 64, 20),
            ("numpy-2.2.5-cp312-cp312-manylinux_2_17_x86_64.whl", "c" * 64, 30),
            ("numpy-2.2.6.tar.gz", "d" * 64, 40),
        ),
        "six": _page(
            ("six-1.17.0-py2.py3-none-any.whl", "e" * 64, 5), ("six-1.17.0.tar.gz", None, 6)
        ),
        "oldpkg": _page(("oldpkg-0.1.tar.gz", "f" * 64, 7)),
    }
    pins = [Pin("numpy", "2.2.6"), Pin("six", "1.17.0"), Pin("oldpkg", "0.1")]
    plan = collect.plan_pypi(pins, pages, target, index_url="https://pypi.example/simple/")
    assert [(p.filename, p.sha256, p.size, p.build) for p in plan] == [
        ("numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.whl", "b" * 64, 20, False),
        ("six-1.17.0-py2.py3-none-any.whl", "e" * 64, 5, False),
        ("oldpkg-0.1.tar.gz", "f" * 64, 7, True),
    ]
    assert (
        plan[0].url
        == "https://pypi.example/packages/numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.whl"
    )
    lines = Plan(tuple(plan)).lines()
    assert lines[-1] == "3 files, 32 B"
    assert "built from its sdist" in lines[2]
    with pytest.raises(InputError, match="no wheel for"):
        collect.plan_pypi([Pin("numpy", "1.0")], pages, target)
    with pytest.raises(InputError, match="matches none of the pinned hashes"):
        collect.plan_pypi([Pin("six", "1.17.0", frozenset({"0" * 64}))], pages, target)


def test_target_for_another_python_uses_its_tags():
    t = Target.current("3.12")
    assert t.tags[0].startswith("cp312-cp312-")
    assert "py3-none-any" in t.tags
    assert t.environment["python_version"] == "3.12"


def test_a_windows_target_takes_windows_wheels_and_markers():
    """The Windows installer's target: 64-bit Windows wheels, Windows markers, its label."""
    t = Target.windows("3.11")
    assert t.tags[0] == "cp311-cp311-win_amd64" and "py3-none-any" in t.tags
    assert not any("linux" in tag for tag in t.tags)
    assert t.environment["sys_platform"] == "win32" and t.environment["os_name"] == "nt"
    assert t.label == ("win32-AMD64", "python3.11")
    pages = {
        "pywinpty": _page(
            ("pywinpty-2.0.15-cp311-cp311-win_amd64.whl", "a" * 64, 10),
            ("pywinpty-2.0.15.tar.gz", "b" * 64, 20),
        ),
        "uv": _page(
            ("uv-0.7.0-py3-none-manylinux_2_17_x86_64.whl", "c" * 64, 30),
            ("uv-0.7.0-py3-none-win_amd64.whl", "d" * 64, 40),
        ),
    }
    pins = collect.parse_pins(
        "pywinpty==2.0.15 ; os_name == 'nt'\nuv==0.7.0\nuvloop==0.21.0 ; sys_platform != 'win32'\n",
        environment=t.environment,
    )
    assert [p.name for p in pins] == ["pywinpty", "uv"]  # uvloop is not for Windows
    plan = collect.plan_pypi(pins, pages, t)
    assert [p.filename for p in plan] == [
        "pywinpty-2.0.15-cp311-cp311-win_amd64.whl",
        "uv-0.7.0-py3-none-win_amd64.whl",
    ]


LOCK = {
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "orbit-bundle", "dependencies": {"is-odd": "3.0.1"}},
        "node_modules/is-odd": {"version": "3.0.1", "integrity": "sha512-odd"},
        "node_modules/is-number": {"version": "7.0.0", "integrity": "sha512-n7"},
        "node_modules/is-odd/node_modules/is-number": {
            "version": "6.0.0",
            "integrity": "sha512-n6",
        },
        "node_modules/@esbuild/linux-x64": {"version": "0.25.0", "os": ["linux"], "cpu": ["x64"]},
        "node_modules/@esbuild/darwin-arm64": {
            "version": "0.25.0",
            "os": ["darwin"],
            "cpu": ["arm64"],
        },
        "node_modules/fsevents": {"version": "2.3.3", "os": ["!linux", "!win32"]},
        "node_modules/local": {"link": True, "resolved": "../local"},
    },
}


def test_npm_plan_has_each_package_once_for_this_platform():
    plan = collect.plan_npm(LOCK, here=("linux", "x64"))
    assert sorted((p.name, p.version, p.filename) for p in plan) == [
        ("@esbuild/linux-x64", "0.25.0", "esbuild-linux-x64-0.25.0.tgz"),
        ("is-number", "6.0.0", "is-number-6.0.0.tgz"),
        ("is-number", "7.0.0", "is-number-7.0.0.tgz"),
        ("is-odd", "3.0.1", "is-odd-3.0.1.tgz"),
    ]
    git = {"packages": {"node_modules/x": {"version": "1.0.0", "resolved": "git+ssh://h/x.git"}}}
    with pytest.raises(InputError, match="not from a registry"):
        collect.plan_npm(git)


APT = """\
'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.36-9%2bdeb12u14_amd64.deb' libc6_2.36-9+deb12u14_amd64.deb 2759320 SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
'http://deb.debian.org/debian/pool/main/libo/libonig/libonig5_6.9.8-1_amd64.deb' libonig5_6.9.8-1_amd64.deb 187828 MD5Sum:7e359432d638eee2be29dfd20ddcd493
'http://deb.debian.org/debian-security/pool/updates/main/j/jq/jq_1.6-2.1%2bdeb12u3_amd64.deb' jq_1.6-2.1+deb12u3_amd64.deb 64432{TRAILING}
""".replace("{TRAILING}", " ")  # apt leaves a space when it has no hash


def test_apt_plan_from_print_uris():
    plan = collect.plan_apt(APT, needed_by=("apt.txt",))
    assert [(p.name, p.version, p.size, p.sha256) for p in plan] == [
        ("libc6", "2.36-9+deb12u14", 2759320, "0123456789abcdef" * 4),
        ("libonig5", "6.9.8-1", 187828, None),
        ("jq", "1.6-2.1+deb12u3", 64432, None),
    ]
    assert Plan(tuple(plan)).lines()[-1] == "3 files, 2.9 MiB"


def _layers(kind: str, names: list[str]) -> Layers:
    folder = {"wheel": "wheels", "npm": "npm", "deb": "apt"}[kind]
    members = tuple(
        Member(f"{folder}/{n}-1.0.x", kind, "0" * 64, 1, meta={"name": n}) for n in names
    )
    return Layers([InstalledBundle(Path("/nonexistent"), Manifest(members))])


def test_installers_not_found_becomes_not_in_the_bundle(tmp_path):
    uv = (
        "  × No solution found when resolving dependencies:\n"
        "  ╰─▶ Because requests was not found in the package registry and you require\n"
        "      requests, we can conclude that your requirements are unsatisfiable."
    )
    index = PyPIIndex(_layers("wheel", ["six", "idna", "Numpy"]), tmp_path)
    err = index.offline_error(uv)
    assert str(err) == "offline: requests is not in the bundle (bundled: idna, numpy, six)"
    assert "orbit bundle install" in err.hint
    # a bundled package asked for in another version: uv's own message says it better
    assert index.offline_error(uv.replace("requests", "six")) is None
    assert index.offline_error("error: Failed to fetch: connection refused") is None

    npm = (
        "npm error code E404\nnpm error 404 Not Found - GET http://127.0.0.1:4873/left-pad - "
        "no such package available\nnpm error 404\nnpm error 404  'left-pad@1.3.0' is not in "
        "this registry."
    )
    reg = NpmRegistry(_layers("npm", ["is-odd", "is-number"]), tmp_path)
    assert str(reg.offline_error(npm)) == (
        "offline: left-pad is not in the bundle (bundled: is-number, is-odd)"
    )
    scoped = "npm error 404 Not Found - GET http://127.0.0.1:4873/@types%2fnode - no such package available"
    assert str(reg.offline_error(scoped)).startswith("offline: @types/node is not in the bundle")

    apt = "Reading package lists...\nE: Unable to locate package cowsay\n"
    repo = AptRepository(_layers("deb", ["jq", "libjq1"]), tmp_path)
    assert (
        str(repo.offline_error(apt)) == "offline: cowsay is not in the bundle (bundled: jq, libjq1)"
    )


@pytest.mark.integration
def test_an_sdist_is_built_into_a_wheel_at_bundle_time_reproducibly(tmp_path):
    import hashlib
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from jupyter_orbit.uvcli import run_uv
    from tests.bundle.conftest import AS_OF

    proj = tmp_path / "proj"
    (proj / "src" / "orbit_sdist_demo").mkdir(parents=True)
    (proj / "src" / "orbit_sdist_demo" / "__init__.py").write_text("X = 1\n")
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "orbit-sdist-demo"\nversion = "0.1"\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    www = tmp_path / "www"
    run_uv(["build", "--sdist", "--out-dir", str(www), "--exclude-newer", AS_OF], cwd=proj)
    sdist = next(www.glob("*.tar.gz"))

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        item = collect.Planned(
            "wheel",
            "orbit-sdist-demo",
            "0.1",
            sdist.name,
            url=f"http://127.0.0.1:{server.server_address[1]}/{sdist.name}",
            sha256=hashlib.sha256(sdist.read_bytes()).hexdigest(),
            build=True,
        )
        one = collect.collect_pypi([item], tmp_path / "one", as_of=AS_OF)
        two = collect.collect_pypi([item], tmp_path / "two", as_of=AS_OF)
    finally:
        server.shutdown()
        server.server_close()
    assert one[0].file.name.startswith("orbit_sdist_demo-0.1-") and one[0].file.suffix == ".whl"
    assert one[0].meta == {"name": "orbit-sdist-demo", "version": "0.1"}
    assert one[0].file.read_bytes() == two[0].file.read_bytes()
