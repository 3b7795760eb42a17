"""The CUDA, ROCm or CPU build of torch and jax: chosen from the GPUs a kernel gets and the
indexes the profile names, applied to a spec; the profile's [hardware] table, checked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.hardware import accelerator as ha
from jupyter_orbit.model import EnvSpec, Origin, Requirement
from tests.hardware.test_detect import fixture

# -- accelerator builds ------------------------------------------------------------------------

INDEXES = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cu118": "https://download.pytorch.org/whl/cu118",
    "cu121": "https://download.pytorch.org/whl/cu121",
    "cu126": "https://download.pytorch.org/whl/cu126",
    "rocm6.2": "https://download.pytorch.org/whl/rocm6.2",
}
SETTINGS = ha.HardwareSettings.from_dict({"torch_indexes": INDEXES}, "profile.toml")


def test_cuda_index_is_the_newest_the_driver_supports():
    c = ha.accelerator_choice(["torch", "numpy"], fixture("nvidia"), SETTINGS)  # CUDA 12.4
    assert c.variant == "cu121"
    assert c.index_options == ("--extra-index-url https://download.pytorch.org/whl/cu121",)
    assert c.reason == "the NVIDIA driver here supports CUDA 12.4: torch from cu121"


def test_jax_gets_its_cuda_extra():
    c = ha.accelerator_choice(["jax"], fixture("nvidia"), SETTINGS)
    assert c.replace == {"jax": "jax[cuda12]"} and c.index_options == ()


def test_cpu_index_without_gpu_and_pypi_without_settings():
    c = ha.accelerator_choice(["torchvision"], fixture("none"), SETTINGS)
    assert c.variant == "cpu"
    assert c.index_options == ("--extra-index-url https://download.pytorch.org/whl/cpu",)
    c = ha.accelerator_choice(["torch"], fixture("none"), ha.HardwareSettings())
    assert (c.variant, c.index_options) == ("pypi", ())
    assert ha.accelerator_choice(["numpy"], fixture("nvidia"), SETTINGS) is None


def test_rocm_index_for_amd():
    amd = fixture("amd", groups=frozenset({"render"}))
    c = ha.accelerator_choice(["torch"], amd, SETTINGS)
    assert c.variant == "rocm6.2" and "rocm6.2" in c.index_options[0]


def test_old_driver_without_a_fitting_index_uses_pypi():
    d = replace(fixture("nvidia"), cuda_version="11.4")
    c = ha.accelerator_choice(["torch"], d, ha.HardwareSettings({"cu121": INDEXES["cu121"]}))
    assert c.variant == "pypi" and "no CUDA index in the profile fits it" in c.reason


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"torch_indexes": {"cuda12": "https://x"}},
            "hardware.torch_indexes.cuda12: is not a build variant",
        ),
        (
            {"torch_indexes": {"cpu": "ftp://x"}},
            "hardware.torch_indexes.cpu: 'ftp://x' is not an index URL",
        ),
        ({"container_serial": "yes"}, "hardware.container_serial: must be true or false"),
        ({"indexes": {}}, "hardware.indexes: unknown setting"),
    ],
)
def test_settings_are_checked(doc, message):
    with pytest.raises(InputError) as e:
        ha.HardwareSettings.from_dict(doc, "profile.toml")
    assert e.value.message.startswith(message) and str(e.value.path) == "profile.toml"


def test_applied_to_a_spec_the_index_and_extras_join_it():
    origin = Origin("metadata.orbit")
    spec = EnvSpec(
        requirements=(
            Requirement("pypi", "jax", "jax>=0.4", origin),
            Requirement("pypi", "torch", "torch==2.3.1", origin),
            Requirement("npm", "jax", "jax", origin),
        ),
        index_options=("--prerelease allow",),
    )
    c = ha.accelerator_choice(["jax", "torch"], fixture("nvidia"), SETTINGS)
    out = c.apply(spec)
    assert [r.text for r in out.requirements] == ["jax[cuda12]>=0.4", "torch==2.3.1", "jax"]
    assert out.index_options == (
        "--prerelease allow",
        "--extra-index-url https://download.pytorch.org/whl/cu121",
    )
    assert out.env_id != spec.env_id  # a CUDA build is another environment
    assert c.apply(out) == out  # applying twice changes nothing
    assert ha.AcceleratorChoice("pypi").apply(spec) == spec


def test_settings_round_trip_and_stay_out_of_the_file_when_default():
    s = ha.HardwareSettings.from_dict(
        {"torch_indexes": {"cpu": INDEXES["cpu"]}, "container_serial": True}, "profile.toml"
    )
    assert ha.HardwareSettings.from_dict(s.to_dict(), "profile.toml") == s
    assert ha.HardwareSettings().to_dict() == {}


@pytest.mark.integration
def test_the_profiles_cpu_index_builds_the_environment(tmp_path):
    """The whole way with real uv: a profile whose CPU index (a local index standing in for
    download.pytorch.org/whl/cpu, with upload times) holds torch's CPU build; a notebook that
    asks for torch and declares no GPU gets that build, as of its date."""
    from jupyter_orbit.hardware.fit import Hardware
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, Consent, prepare
    from tests.conftest import make_notebook
    from tests.support.pypi_index import LocalIndex

    with LocalIndex(tmp_path) as cpu:
        cpu.add(
            "torch", "2.0.0+cpu", {"torch/__init__.py": "BUILD = 'cpu'\n"}, uploaded="2024-01-01"
        )
        cpu.add(
            "torch", "2.9.0+cpu", {"torch/__init__.py": "BUILD = 'new'\n"}, uploaded="2025-09-01"
        )
        settings = tmp_path / "profile.toml"
        settings.write_text(
            '[server]\npython = "3.11"\njupyterlab = "4.2.0"\n\n'
            f'[hardware.torch_indexes]\ncpu = "{cpu.url}"\n'
        )
        nb = make_notebook(
            tmp_path / "proj" / "nb.ipynb",
            "import torch",
            metadata={"orbit": {"packages": {"pypi": ["torch"]}}},
        )
        choices = Choices(
            as_of="2025-06-01",
            consent=Consent(yes=True),
            hardware=Hardware(settings_file=settings),
        )
        prepared = prepare(nb, choices, Paths(tmp_path / "orbit-home"), until="build")
    assert prepared.hardware.accelerator.variant == "cpu"
    site = next(prepared.environment.location.glob("lib/python3*/site-packages"))
    assert (site / "torch" / "__init__.py").read_text() == "BUILD = 'cpu'\n"
    assert [p.name for p in site.glob("torch-*.dist-info")] == ["torch-2.0.0+cpu.dist-info"]
    assert any("/simple/torch/" in r for r in cpu.requests)
