"""orbit publish --z2jh: Zero to JupyterHub's values (golden file) and the namespace, checked
offline against the chart's values schema and Kubernetes' schemas; GPUs from the notebooks'
hardware declarations; a profile per environment."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress
from jupyter_orbit.publish import z2jh
from jupyter_orbit.publish.project import collect
from tests.conftest import make_notebook, snapshot
from tests.support.golden import golden_in

golden = golden_in(Path(__file__).parent / "golden")
IMAGE = "registry.example.org/class/demo:1.0"


def meta(packages: list[str], hardware: dict | None = None) -> dict:
    orbit: dict = {"as_of": "2025-06-01", "packages": {"pypi": packages}}
    if hardware is not None:
        orbit["hardware"] = hardware
    return {"orbit": orbit}


def project_of(tmp_path: Path, notebooks: dict[str, dict]):
    root = tmp_path / "demo"
    for name, metadata in notebooks.items():
        make_notebook(root / name, "1", metadata=metadata)
    return collect(Paths(tmp_path / "orbit-home"), root, until="resolve")


def test_two_environments_get_a_profile_each_and_the_gpu_one_its_gpus(tmp_path: Path):
    project = project_of(
        tmp_path,
        {
            "intro.ipynb": meta(["numpy"]),
            "train.ipynb": meta(["torch"], {"gpu": {"vendor": "nvidia", "count": 2}}),
        },
    )
    files = z2jh.render(project, IMAGE)
    # An environment's id depends on the Python the date fit chose, which depends on what uv's
    # cache holds when the test runs offline: the golden file names them by position.
    ids = list(project.environments)
    assert len(ids) == 2 and all(i[:12] in files["config.yaml"] for i in ids)
    config = files["config.yaml"]
    for n, env_id in enumerate(ids):
        config = config.replace(env_id[:12], f"<environment {n + 1}>")
    golden("z2jh-config.yaml", config)
    golden("z2jh-namespace.yaml", files["namespace.yaml"])
    values = z2jh.values(project, IMAGE)
    assert values["singleuser"]["image"] == {
        "name": "registry.example.org/class/demo",
        "tag": "1.0",
        "pullPolicy": "IfNotPresent",
    }
    intro, train = values["singleuser"]["profileList"]
    assert intro["default"] is True and intro["kubespawner_override"] == {
        "default_url": "/lab/tree/intro.ipynb"
    }
    assert train["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "2"}
    assert values["cull"]["enabled"] is True
    # The pods users' servers become, and the namespace, fit Kubernetes' own schema.
    pods = z2jh.pods(values)
    assert [
        p["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu") for p in pods
    ] == [
        None,
        None,
        "2",
    ]
    assert z2jh.check_objects([z2jh.namespace("jupyterhub-demo"), *pods]) is True


def test_one_environment_puts_its_gpus_on_every_server(tmp_path: Path):
    project = project_of(tmp_path, {"gpu.ipynb": meta(["torch"], {"gpu": "amd"})})
    values = z2jh.values(project, "demo:latest")
    assert "profileList" not in values["singleuser"]
    assert values["singleuser"]["extraResource"]["limits"] == {"amd.com/gpu": "1"}
    z2jh.check_values(values)
    assert z2jh.check_objects(z2jh.pods(values))


def test_values_outside_the_charts_schema_are_refused(tmp_path: Path):
    project = project_of(tmp_path, {"a.ipynb": meta(["numpy"])})
    values = z2jh.values(project, IMAGE)
    bad = copy.deepcopy(values)
    bad["singleuser"]["cpu"]["limit"] = "lots"
    with pytest.raises(BuildError, match=r"singleuser\.cpu\.limit"):
        z2jh.check_values(bad)
    typo = copy.deepcopy(values)
    typo["singleuser"]["imag"] = {"name": "x"}
    with pytest.raises(BuildError, match="imag"):
        z2jh.check_values(typo)
    pod = z2jh.pods(values)[0]
    pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = [2]
    with pytest.raises(BuildError, match="Kubernetes"):
        z2jh.check_objects([pod])


def test_helm_merges_values_key_by_key():
    defaults = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert z2jh.merged(defaults, {"a": {"c": [3]}, "d": None}) == {"a": {"b": 1, "c": [3]}}


@pytest.mark.parametrize(
    ("gpu", "message"),
    [
        ({"vendor": "nvidia", "count": "all"}, "cannot be a Kubernetes limit"),
        ("tpu", "unknown make"),
    ],
)
def test_gpu_requests_kubernetes_cannot_take_are_errors(tmp_path: Path, gpu, message):
    nb = make_notebook(tmp_path / "g.ipynb", "1", metadata=meta([], {"gpu": gpu}))
    with pytest.raises(InputError, match=message) as err:
        z2jh.gpu_limits(nb)
    assert err.value.path == nb


def test_written_once_and_never_over_other_files(tmp_path: Path):
    project = project_of(tmp_path, {"a.ipynb": meta(["numpy"])})
    dest = tmp_path / "k8s"
    out = z2jh.write_z2jh(project, dest, "127.0.0.1:5000/demo:1", progress=NullProgress())
    assert sorted(Path(p).name for p in out.written) == ["config.yaml", "namespace.yaml"]
    assert any("push it to one the cluster can reach" in n for n in out.notes)
    again = z2jh.write_z2jh(project, dest, "127.0.0.1:5000/demo:1", progress=NullProgress())
    assert again.written == [] and len(again.unchanged) == 2
    before = snapshot(dest)
    with pytest.raises(InputError, match="will not overwrite"):
        z2jh.write_z2jh(project, dest, IMAGE, progress=NullProgress())
    assert snapshot(dest) == before
    forced = z2jh.write_z2jh(project, dest, IMAGE, force=True, progress=NullProgress())
    assert [Path(p).name for p in forced.written] == ["config.yaml"]
