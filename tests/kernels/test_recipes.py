"""Kernel recipes, their aliases and system requirements, and the menu's states (no servers)."""

import json
from pathlib import Path

import pytest

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.kernels.kernelspecs import install_kernelspecs
from jupyter_orbit.kernels.recipes import (
    IRRecipe,
    SystemRequirement,
    get_recipe,
    install_command,
    recipe_classes,
    recipe_for,
)
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, prepare
from jupyter_orbit.resolve import resolve
from jupyter_orbit.server import catalog
from tests.conftest import make_notebook

RECIPES = recipe_classes()


def test_builtin_recipes_have_everything_the_menu_and_tests_need():
    # the languages, then the device kernels (kernels/devices)
    languages = ["python", "xpython", "bash", "deno", "r", "octave"]
    assert list(RECIPES) == [*languages, "micropython", "scpi"]
    kernelspecs = [cls.kernelspec_name for cls in RECIPES.values()]
    assert kernelspecs == [
        "python3",
        "xpython",
        "bash",
        "deno",
        "ir",
        "octave",
        "micropython",
        "scpi",
    ]
    for cls in RECIPES.values():
        r = cls()
        assert r.display_name and r.language and r.description
        assert r.smoke_code and r.smoke_output
        assert r.logo_svg().startswith("<svg")
        assert r.packages, r.name  # every recipe says what its environment holds


@pytest.mark.parametrize(
    ("name", "recipe"),
    [
        ("python3", "python"),
        ("ipython", "python"),
        ("xpython", "xpython"),
        ("bash", "bash"),
        ("ir", "r"),
        ("R", "r"),
        ("deno", "deno"),
        ("typescript", "deno"),
        ("javascript", "deno"),
        ("octave", "octave"),
        ("Octave", "octave"),
    ],
)
def test_aliases(name, recipe):
    assert get_recipe(name).name == recipe


def test_unknown_kernel_lists_the_valid_names():
    with pytest.raises(InputError) as e:
        get_recipe("julia-1.10")
    assert "unknown kernel 'julia-1.10'" in str(e.value)
    assert "python" in e.value.hint and "octave" in e.value.hint
    # a kernelspec name Orbit does not know still finds the recipe by the notebook's language
    assert recipe_for(["conda-env-analysis-py", "python"]).name == "python"
    assert recipe_for(["my-r", "R"]).name == "r"
    with pytest.raises(InputError):
        recipe_for(["julia-1.10", "julia"])


def test_argv_uses_absolute_paths_from_the_environment():
    prefix = Path("/envs/abc")
    python = prefix / "bin" / "python"
    which = {"R": "/opt/R/bin/R", "octave-cli": "/opt/octave/bin/octave-cli"}.get
    for cls in RECIPES.values():
        argv = cls().argv(prefix, python, which=which)
        assert Path(argv[0]).is_absolute(), argv
        assert "{connection_file}" in argv
    assert get_recipe("deno").argv(prefix, python)[:2] == ["/envs/abc/bin/deno", "jupyter"]
    assert "--install" not in get_recipe("deno").argv(prefix, python)
    assert get_recipe("r").argv(prefix, python, which=which)[0] == "/opt/R/bin/R"
    env = get_recipe("octave").kernel_env(prefix, which=which)
    assert env == {"OCTAVE_EXECUTABLE": "/opt/octave/bin/octave-cli"}


def test_missing_system_tools_name_the_exact_command(monkeypatch):
    nothing = lambda name: None  # noqa: E731
    r = IRRecipe()
    assert [m.what for m in r.missing(nothing)] == ["R", "IRkernel (an R package)"]
    monkeypatch.setattr("shutil.which", lambda n: "/usr/bin/apt-get" if n == "apt-get" else None)
    with pytest.raises(BuildError) as e:
        r.check_system(nothing)
    assert "needs R, IRkernel" in e.value.message
    assert "apt-get install -y --no-install-recommends r-base-core r-cran-irkernel" in e.value.hint
    with pytest.raises(BuildError):
        r.argv(Path("/e"), Path("/e/bin/python"), which=nothing)


def test_install_command_without_apt(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda n: None)
    req = SystemRequirement(
        "IRkernel", "Rscript", ("r-cran-irkernel",), "R -e \"install.packages('IRkernel')\""
    )
    assert install_command([req]) == "R -e \"install.packages('IRkernel')\""


def test_probe_decides_presence(tmp_path):
    ok = SystemRequirement("shell", "sh", ("dash",), "", probe=("-c", "exit 0"))
    bad = SystemRequirement("shell", "sh", ("dash",), "", probe=("-c", "exit 3"))
    assert ok.present() and not bad.present()
    # a file in the usual place answers without running the probe
    (tmp_path / "lib" / "pkg").mkdir(parents=True)
    (tmp_path / "lib" / "pkg" / "DESCRIPTION").write_text("x")
    found = SystemRequirement(
        "pkg", "sh", (), "", probe=("-c", "exit 3"), files=(f"{tmp_path}/*/pkg/DESCRIPTION",)
    )
    assert found.present()


def test_adoption_code_per_language(tmp_path):
    cwd = tmp_path / "it's here"
    assert (
        get_recipe("bash").adopt_code(cwd, "a.ipynb")
        == f"cd '{tmp_path}/it'\\''s here' && export JPY_SESSION_NAME='a.ipynb'"
    )
    assert json.dumps(str(cwd)) in get_recipe("deno").adopt_code(cwd, "a")
    assert "setwd(" in get_recipe("r").adopt_code(cwd, "a")
    assert "it''s here" in get_recipe("octave").adopt_code(cwd, "a")
    assert "os.chdir" in get_recipe("xpython").adopt_code(cwd, "a")


def test_warming_code_and_the_command_that_runs_it_as_the_kernel_boots(tmp_path):
    python = get_recipe("python")
    code = python.warm_code(["numpy", "scikit-learn"])
    assert '["numpy", "scikit-learn"]' in code and "del _orbit_warm" in code
    compile(code, "warm", "exec")  # one piece of Python, run as one cell
    assert python.warm_code([]) is None  # nothing declared: nothing to run
    assert "del _orbit_warm" in get_recipe("xpython").warm_code(["numpy"])
    assert get_recipe("r").warm_code(["ggplot2"]) is None
    argv = python.argv(tmp_path, tmp_path / "bin" / "python")
    assert python.warm_argv(argv, ["numpy"]) == [
        *argv,
        "--IPKernelApp.code_to_run=" + python.warm_code(["numpy"]),
    ]
    assert python.warm_argv(argv, []) is None
    # another engine's command (a container's host side) is not IPython's to extend
    hosted = [str(tmp_path / "python"), "-P", "-m", "jupyter_orbit.engines.container_kernel"]
    assert python.warm_argv([*hosted, "--connection-file", "{connection_file}"], ["x"]) is None
    xpython = get_recipe("xpython")
    assert xpython.warm_argv(xpython.argv(tmp_path, tmp_path / "python"), ["numpy"]) is None


def test_notebook_kernelspec_selects_the_recipe(tmp_path):
    for spec, recipe in [("ir", "r"), ("bash", "bash"), ("deno", "deno"), ("octave", "octave")]:
        nb = make_notebook(tmp_path / f"{spec}.ipynb", "1")
        data = json.loads(nb.read_text())
        data["metadata"]["kernelspec"] = {"name": spec, "display_name": spec, "language": spec}
        nb.write_text(json.dumps(data))
        res = resolve(nb, root=tmp_path, default_python="3.11")
        assert res.spec.kernel == recipe
    # metadata.orbit.kernel wins over the kernelspec
    nb = make_notebook(tmp_path / "x.ipynb", "1", metadata={"orbit": {"kernel": "xpython"}})
    res = resolve(nb, root=tmp_path, default_python="3.11")
    assert res.spec.kernel == "xpython"
    assert [r.name for r in res.spec.packages("pypi")] == ["xeus-python"]
    # R: Debian packages, no PyPI ones
    nb = make_notebook(tmp_path / "r.ipynb", "1", metadata={"orbit": {"kernel": "r"}})
    spec = resolve(nb, root=tmp_path, default_python="3.11").spec
    assert [r.name for r in spec.packages("apt")] == ["r-base-core", "r-cran-irkernel"]
    assert spec.packages("pypi") == ()


def test_profile_kernelspecs(tmp_path):
    profile = Paths(tmp_path).profile().ensure()
    # the languages, then the device kernels
    assert install_kernelspecs(profile) == [
        *("python3", "xpython", "bash", "deno", "ir", "octave"),
        *("micropython", "scpi"),
    ]
    for cls in RECIPES.values():
        folder = profile.kernels_dir / cls.kernelspec_name
        spec = json.loads((folder / "kernel.json").read_text())
        assert spec["language"] == cls.language
        assert spec["metadata"]["kernel_provisioner"] == {
            "provisioner_name": "orbit-provisioner",
            "config": {"recipe": cls.name},
        }
        assert (folder / "logo-svg.svg").read_text().startswith("<svg")


def test_catalog_states(tmp_path, monkeypatch):
    paths = Paths(tmp_path / "home")
    folder = tmp_path / "project"
    folder.mkdir()
    python = catalog.recipe_state(paths, get_recipe("python"), folder, Choices(root=folder))
    assert python["state"] == "installable" and python["installs"] == ["ipykernel (PyPI)"]
    resolved = prepare(folder, Choices(root=folder, kernel="python"), paths, until="resolve")
    assert python["env_id"] == resolved.env_id  # what the provisioner builds
    monkeypatch.setattr("shutil.which", lambda n: "/usr/bin/apt-get" if n == "apt-get" else None)
    needs_tool = get_recipe("python")
    needs_tool.system = (
        SystemRequirement("a tool", "orbit-no-such-tool", ("orbit-tool",), "get it"),
    )
    blocked = catalog.recipe_state(paths, needs_tool, folder, Choices(root=folder))
    assert blocked["state"] == "needs-system"
    assert blocked["command"].endswith("apt-get install -y --no-install-recommends orbit-tool")
    # a project declaring packages: they are counted, and the environment differs
    (folder / "requirements.txt").write_text("numpy\n")
    with_project = catalog.recipe_state(paths, get_recipe("python"), folder, Choices(root=folder))
    assert with_project["env_id"] != python["env_id"]
    assert "1 package(s) the project declares" in with_project["detail"]
