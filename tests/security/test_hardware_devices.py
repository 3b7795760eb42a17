"""What a notebook's metadata.orbit.hardware cannot do: reach host files through "devices", put
serial devices into containers the profile did not allow, hand devices to a hub's users, or choose
where accelerator builds come from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.hardware import accelerator as ha
from jupyter_orbit.hardware import needs as hn
from jupyter_orbit.hardware.detect import ContainerSupport, Detection, Device

NB = Path("/home/eve/evil.ipynb")


def parse(hardware):
    return hn.parse_needs({"orbit": {"hardware": hardware}}, notebook=NB)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/shadow",
        "/dev/../etc/shadow",
        "/dev/ttyACM0/../../etc",
        "/var/run/docker.sock",
        "/dev/ttyACM0:/etc/passwd",  # a second "host:container" pair smuggled in
        "/dev/ttyUSB0 --privileged",
        "../dev/ttyUSB0",
    ],
)
def test_only_device_nodes_can_be_named(path):
    with pytest.raises(InputError, match="neither a USB vendor:product nor a serial port"):
        parse({"serial": path})


def test_a_matching_path_must_also_be_a_detected_port():
    d = Detection((Device("serial", "board", "/dev/ttyACM0", "", {"usb": "2e8a:0005"}),))
    m = hn.match(parse({"serial": "/dev/sda"}), d)  # a disk, not a serial port here
    with pytest.raises(BuildError, match="no serial device /dev/sda here"):
        hn.container_devices(m, d, cdi_enabled=False, allow_serial=True)


def test_serial_into_containers_only_when_the_profile_allows():
    d = Detection((Device("serial", "board", "/dev/ttyACM0", "", {"usb": "2e8a:0005"}),))
    m = hn.match(parse({"serial": "2e8a:0005"}), d)
    with pytest.raises(BuildError, match="does not pass serial devices into containers"):
        hn.container_devices(m, d, cdi_enabled=False, allow_serial=False)
    with pytest.raises(BuildError, match="a hub does not pass serial devices"):
        hn.hub_host_config(m, d, cdi_enabled=False)


def test_gpus_never_make_a_container_privileged():
    d = Detection(
        (Device("gpu", "GPU", "/dev/nvidia0", "nvidia", {"index": "0", "uuid": "GPU-1"}),),
        ContainerSupport(nvidia_toolkit="/usr/bin/nvidia-container-runtime-hook"),
    )
    kw = hn.container_devices(
        hn.match(parse({"gpu": {"count": "all"}}), d), d, cdi_enabled=False, allow_serial=False
    ).create_kwargs()
    assert set(kw) == {"device_requests"}  # no privileged, no cap_add, no host paths


@pytest.mark.parametrize(
    "hardware",
    [
        {"index_url": "https://evil.example/simple"},
        {"torch_indexes": {"cu124": "https://evil.example/simple"}},
        {"gpu": {"vendor": "nvidia", "index": "https://evil.example/simple"}},
    ],
)
def test_a_notebook_cannot_name_where_builds_come_from(hardware):
    with pytest.raises(InputError):
        parse(hardware)


def test_without_profile_indexes_no_index_is_ever_added():
    gpu = Detection(
        (Device("gpu", "GPU", "/dev/nvidia0", "nvidia", {"index": "0"}),), cuda_version="12.4"
    )
    for detection in (Detection(), gpu):
        for packages in (["torch"], ["jax"], ["torch", "torchvision"]):
            choice = ha.accelerator_choice(packages, detection, ha.HardwareSettings())
            assert choice.index_options == ()


# -- the profile's [hardware] table is this machine's, never an import's -----------------------


def test_an_imported_profile_cannot_bring_package_indexes_or_device_access(tmp_path):
    from jupyter_orbit.profiles import archive
    from tests.profiles.test_archive import SETTINGS, export_text, good_files

    for table in (
        '[hardware.torch_indexes]\ncu124 = "https://evil.example/simple"\n',
        "[hardware]\ncontainer_serial = true\n",
    ):
        files = dict(good_files(), **{"profile.toml": SETTINGS + "\n" + table})
        path = tmp_path / "evil.orbit-profile.toml"
        path.write_text(export_text(files))
        with pytest.raises(InputError, match=r"the profile sets \[hardware\]"):
            archive.read_import(path)


def test_an_export_leaves_the_hardware_table_out_and_says_so(tmp_path):
    import tomllib

    from jupyter_orbit import settings as st
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.profiles import archive
    from jupyter_orbit.profiles.store import ProfileStore

    store = ProfileStore(Paths(tmp_path))
    s = st.default_settings()
    hw = ha.HardwareSettings({"cpu": "https://download.pytorch.org/whl/cpu"}, True)
    store.create("lab", s).ensure()
    store.save("lab", replace(s, hardware=hw))
    assert store.settings("lab").hardware == hw
    out = archive.export(Paths(tmp_path), "lab")
    carried = tomllib.loads(tomllib.loads(out.text)["files"]["profile.toml"])
    assert "hardware" not in carried
    assert any(item.startswith("[hardware]") for item in out.left_out)


# -- what reaches a kernel container -----------------------------------------------------------


def test_the_container_starter_takes_nothing_but_devices():
    for smuggled in ({"privileged": True}, {"binds": ["/:/host"]}, {"cap_add": ["SYS_ADMIN"]}):
        with pytest.raises(ValueError, match="not container devices"):
            hn.ContainerDevices.from_host_config(smuggled)


def test_a_device_kernel_in_a_container_sees_orbits_code_read_only(tmp_path, monkeypatch):
    """A device recipe's kernel runs Orbit's own module: the container gets that folder
    read-only, at the same path, and nothing else of the host beyond the project."""
    from jupyter_orbit.engines.base import Launch
    from jupyter_orbit.engines.container_kernel import _parse, container_spec
    from jupyter_orbit.engines.docker import DockerEngine
    from jupyter_orbit.kernels.devices.devicekernel import package_folder
    from jupyter_orbit.kernels.recipes import get_recipe
    from jupyter_orbit.model import Environment
    from jupyter_orbit.paths import Paths

    monkeypatch.chdir(tmp_path)
    engine = DockerEngine(Paths(tmp_path), client=object())  # no engine is asked
    env = Environment("docker", "abc123", tmp_path, Path("/opt/orbit/env/bin/python"))
    argv = engine.kernel_command(env, get_recipe("micropython"), Launch(None, tmp_path))
    kw = container_spec(
        _parse(argv[argv.index("jupyter_orbit.engines.container_kernel") + 1 :]),
        dict.fromkeys(("shell_port", "hb_port"), 1)
        | {"iopub_port": 2, "stdin_port": 3, "control_port": 4},
    )
    pkg = str(package_folder())
    assert f"{pkg}:{pkg}:ro" in kw["volumes"]
    assert [v for v in kw["volumes"] if v.endswith(":rw")] == [f"{tmp_path}:{tmp_path}:rw"]
    assert kw["command"][:3] == ["/opt/orbit/env/bin/python", "-I", "-c"]
