"""The one pipeline, in process, with a fake engine: every stage and branch (no uv, no server).

The end-to-end twin (the same notebook from the terminal and in the server) is in
tests/server/test_parity.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jupyter_orbit import prepare as pipeline
from jupyter_orbit.engines.base import Engine, Launch
from jupyter_orbit.errors import BuildError, InputError, TrustError
from jupyter_orbit.model import Environment, EnvSpec, Plan, Step
from jupyter_orbit.paths import Paths
from jupyter_orbit.plugins import ENGINES
from jupyter_orbit.prepare import Choices, Consent, prepare
from jupyter_orbit.progress import NullProgress
from jupyter_orbit.trust import TrustStore
from tests.conftest import make_notebook


@dataclasses.dataclass(frozen=True)
class FakeStep(Step):
    ACTION: ClassVar[str] = "fake"

    def run(self, build: Any) -> None:
        build.append(self.detail)


class FakeEngine(Engine):
    """Remembers what it built; refuses launches that ask for host access."""

    name = "fake"
    built: ClassVar[dict[str, Environment]] = {}
    ran: ClassVar[list[str]] = []
    fail: ClassVar[str | None] = None

    def lookup_id(self, env_id: str) -> Environment | None:
        return self.built.get(env_id)

    def plan(self, spec: EnvSpec) -> Plan:
        built = spec.env_id in self.built
        steps = () if built else (FakeStep("make"), FakeStep("fill"))
        return Plan(self.name, spec.env_id, spec, "nowhere", built, steps, warnings=("fake!",))

    def realize(self, plan: Plan, progress: Any) -> Environment:
        if self.fail:
            raise BuildError(self.fail, "fix it")
        for step in plan.steps:
            progress.step(step.action, step.detail)
            step.run(self.ran)
        env = Environment(self.name, plan.env_id, Path("/env"), Path("/env/bin/python"))
        self.built[plan.env_id] = env
        return env

    def kernel_argv(self, env: Environment, recipe: Any) -> list[str]:
        return ["fake-kernel", env.env_id, "{connection_file}"]

    def check_launch(self, launch: Launch) -> None:
        if launch.allow_host_access:
            raise InputError("the fake engine never reaches the host", "leave it out")


@pytest.fixture(autouse=True)
def fake_engine() -> Iterator[type[FakeEngine]]:
    ENGINES.add(FakeEngine)
    FakeEngine.built, FakeEngine.ran, FakeEngine.fail = {}, [], None
    yield FakeEngine
    ENGINES.remove("fake")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "orbit-home")


def notebook(tmp_path: Path, *, packages: list[str] | None = None, **orbit: Any) -> Path:
    meta = {"orbit": {"engine": "fake", **orbit}}
    if packages is not None:
        meta["orbit"]["packages"] = {"pypi": packages}
    (tmp_path / "proj" / ".git").mkdir(parents=True, exist_ok=True)
    return make_notebook(tmp_path / "proj" / "nb.ipynb", "1", metadata=meta)


def test_stages_stop_where_asked(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path)
    resolved = prepare(nb, Choices(), paths, until="resolve")
    assert resolved.engine.id == "fake" and resolved.plan is None
    assert resolved.resolution.engine == "fake" and resolved.recipe.name == "python"
    looked = prepare(nb, Choices(), paths, until="lookup")
    assert looked.environment is None and looked.plan is None
    planned = prepare(nb, Choices(), paths, until="plan")
    assert [s.action for s in planned.plan.steps] == ["fake", "fake"]
    assert planned.warnings == ("fake!",) and FakeEngine.ran == []
    built = prepare(nb, Choices(), paths, until="build")
    assert built.built and FakeEngine.ran == ["make", "fill"] and built.argv == []
    launched = prepare(nb, Choices(), paths)
    assert not launched.built and launched.environment is built.environment
    assert launched.argv == ["fake-kernel", launched.env_id, "{connection_file}"]
    assert launched.launch.project_root == nb.parent  # the .git folder marks the project


def test_consent_same_rule_for_every_caller(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path, packages=["six"])
    with pytest.raises(TrustError) as e:
        prepare(nb, Choices(), paths)
    assert "pypi:six" in e.value.message and f"orbit trust {nb.parent}" in e.value.hint
    assert FakeEngine.ran == []
    asked: list[list[str]] = []

    def no(res: Any, wanted: list[str]) -> bool:
        asked.append(wanted)
        return False

    with pytest.raises(TrustError):
        prepare(nb, Choices(consent=Consent(ask=no)), paths)
    assert asked == [["pypi:six"]]
    assert prepare(nb, Choices(consent=Consent(ask=lambda r, w: True)), paths).built
    FakeEngine.built.clear()
    assert prepare(nb, Choices(consent=Consent(yes=True)), paths).built
    FakeEngine.built.clear()
    TrustStore(paths.trust_file).trust(nb.parent)
    assert prepare(nb, Choices(), paths).built
    FakeEngine.built.clear()
    with pytest.raises(TrustError):  # prewarming never installs what a notebook declares
        prepare(nb, Choices(consent=pipeline.NO_CONSENT), paths)


def test_nothing_declared_needs_no_consent_and_a_built_environment_none(
    tmp_path: Path, paths: Paths
):
    assert prepare(notebook(tmp_path), Choices(), paths).built  # the kernel's own packages
    nb = notebook(tmp_path, packages=["six"])
    prepare(nb, Choices(consent=Consent(yes=True)), paths)
    again = prepare(nb, Choices(), paths)  # untrusted, but nothing to install
    assert not again.built and again.environment is not None


def test_source_changing_lines_are_warned_about_and_need_consent(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path, packages=["demo @ https://example.org/demo-1.0-py3-none-any.whl"])
    planned = prepare(nb, Choices(), paths, until="plan")
    assert any("demo @ https://example.org" in w for w in planned.warnings)
    assert pipeline.declared(planned.resolution)[-1].startswith("source option: demo @ https")
    progress = NullProgress()
    prepare(nb, Choices(consent=Consent(yes=True)), paths, progress=progress)
    assert progress.warnings == list(planned.warnings)


def test_the_launch_is_checked_before_anything_is_looked_up_or_built(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path)
    prepare(nb, Choices(), paths)
    with pytest.raises(InputError, match="never reaches the host"):
        prepare(nb, Choices(allow_host_access=True), paths, until="lookup")


def test_engine_choice_command_line_then_sources_then_profile(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path)
    assert prepare(nb, Choices(default_engine="local"), paths, until="resolve").engine.id == "fake"
    cli = prepare(nb, Choices(engine="local"), paths, until="resolve")
    assert cli.engine.id == "local" and cli.resolution.engine == "local"
    plain = make_notebook(tmp_path / "plain.ipynb", "1")
    chosen = prepare(plain, Choices(default_engine="fake"), paths, until="resolve")
    assert chosen.engine.id == "fake"
    with pytest.raises(InputError, match="unknown engine 'warp'"):
        prepare(plain, Choices(engine="warp"), paths, until="resolve")


def test_locked_needs_a_lock(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path)
    with pytest.raises(InputError, match="has no lock"):
        prepare(nb, Choices(locked=True), paths, until="resolve")


def test_a_build_failure_is_told_with_the_date(tmp_path: Path, paths: Paths):
    FakeEngine.fail = "no such package"
    nb = notebook(tmp_path, as_of="2019-03-01")
    with pytest.raises(BuildError) as e:
        prepare(nb, Choices(), paths)
    assert "resolving as of 2019-03-01" in e.value.message
    assert "--as-of now" in e.value.hint


def test_now_is_remembered_for_the_same_requirements(tmp_path: Path, paths: Paths):
    nb = notebook(tmp_path)
    first = prepare(nb, Choices(), paths)
    assert first.resolution.as_of_source == "now"
    memo = paths.envs_dir("fake") / ".as-of-now"
    # The date, and the environment it was built for (recalled while that one exists).
    assert [p.read_text().split() for p in memo.iterdir()] == [
        [first.spec.as_of, "fake", first.env_id]
    ]
