"""What a notebook's metadata.orbit.hardware cannot do: reach host files through "devices", put
serial devices into containers the profile did not allow, hand devices to a hub's users, or choose
where accelerator builds come from."""

from __future__ import annotations

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
