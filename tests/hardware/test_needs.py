"""A notebook's declared hardware: parsing, matching, container devices (golden), hub config,
Kubernetes limits and a device kernel's variables."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.hardware import needs as hn
from jupyter_orbit.hardware.detect import ContainerSupport, Detection, Device
from tests.hardware.test_detect import fixture, fixture_ports

NB = Path("/home/ada/project/train.ipynb")
GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    path = GOLDEN / name
    if os.environ.get("ORBIT_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {name}: run with ORBIT_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text()


def needs(hardware) -> hn.HardwareNeeds:
    return hn.parse_needs({"orbit": {"hardware": hardware}}, notebook=NB)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hardware", "gpu"),
    [
        (True, hn.GpuNeed(None, 1)),
        ("nvidia", hn.GpuNeed("nvidia", 1)),
        ("AMD", hn.GpuNeed("amd", 1)),
        (2, hn.GpuNeed(None, 2)),
        ({"vendor": "intel", "count": "all"}, hn.GpuNeed("intel", None)),
        ({"count": 3}, hn.GpuNeed(None, 3)),
        (False, None),
    ],
)
def test_gpu_forms(hardware, gpu):
    assert needs({"gpu": hardware}).gpu == gpu


def test_serial_and_visa_forms():
    n = needs({"serial": ["2E8A:0005", "/dev/ttyUSB0"], "visa": "TCPIP0::10.0.0.5::INSTR"})
    assert n.serial == (hn.SerialNeed(usb_id="2e8a:0005"), hn.SerialNeed(port="/dev/ttyUSB0"))
    assert n.visa == ("TCPIP0::10.0.0.5::INSTR",)
    assert n.to_dict() == {
        "serial": ["2e8a:0005", "/dev/ttyUSB0"],
        "visa": ["TCPIP0::10.0.0.5::INSTR"],
    }


def test_nothing_declared():
    assert hn.parse_needs({}, notebook=NB).empty
    assert hn.parse_needs({"orbit": {"kernel": "python"}}, notebook=NB).empty


@pytest.mark.parametrize(
    ("hardware", "message"),
    [
        ("gpu", "metadata.orbit.hardware: must be an object, not str"),
        ({"gpus": True}, "metadata.orbit.hardware: unknown key gpus"),
        ({"gpu": "tpu"}, "metadata.orbit.hardware.gpu: unknown make of GPU 'tpu'"),
        ({"gpu": 0}, "metadata.orbit.hardware.gpu.count: 0 is not a number of GPUs"),
        (
            {"gpu": {"count": "two"}},
            "metadata.orbit.hardware.gpu.count: 'two' is not a number of GPUs",
        ),
        ({"gpu": {"make": "amd"}}, "metadata.orbit.hardware.gpu: unknown key make"),
        ({"gpu": 1.5}, "metadata.orbit.hardware.gpu: 1.5 is not a GPU request"),
        ({"serial": "/etc/passwd"}, "metadata.orbit.hardware.serial: '/etc/passwd' is neither"),
        (
            {"serial": "/dev/../etc/shadow"},
            "metadata.orbit.hardware.serial: '/dev/../etc/shadow' is neither",
        ),
        ({"serial": 5}, "metadata.orbit.hardware.serial: 5 is not a serial device"),
        (
            {"visa": "http://x"},
            "metadata.orbit.hardware.visa: 'http://x' is not a VISA resource name",
        ),
    ],
)
def test_mistakes_name_the_notebook_and_the_key(hardware, message):
    with pytest.raises(InputError) as e:
        needs(hardware)
    assert e.value.path == NB
    assert e.value.message.startswith(message), e.value.message
    assert e.value.hint
    assert str(e.value).startswith(f"{NB}: metadata.orbit.hardware")


# -- matching -----------------------------------------------------------------------------------


def test_no_gpu_here_says_what_would_be_needed():
    m = hn.match(needs({"gpu": True}), fixture("none"))
    assert not m.ok
    with pytest.raises(BuildError) as e:
        m.raise_for_problems()
    assert e.value.path == NB
    assert e.value.message == (
        "no GPU here: metadata.orbit.hardware.gpu asks for 1 GPU, and this machine has none"
    )
    assert "NVIDIA with its driver (nvidia-smi lists it)" in e.value.hint
    assert "remove metadata.orbit.hardware.gpu to run on the CPU" in e.value.hint


def test_this_machine_has_no_gpu_for_real():
    """On this machine (no GPU), a notebook declaring one gets the clear refusal."""
    from jupyter_orbit.hardware.detect import detect

    d = detect()
    if d.gpus():
        pytest.skip("this machine has a GPU")
    m = hn.match(needs({"gpu": "nvidia"}), d)
    assert m.problems[0].message.startswith("no NVIDIA GPU here")


def test_wrong_make_and_too_few():
    m = hn.match(needs({"gpu": "nvidia"}), fixture("amd", groups=frozenset({"render"})))
    assert m.problems[0].message == (
        "no NVIDIA GPU here: metadata.orbit.hardware.gpu asks for 1 NVIDIA GPU, and this machine "
        "has none (it has AMD GPU)"
    )
    m = hn.match(needs({"gpu": {"vendor": "nvidia", "count": 3}}), fixture("nvidia"))
    assert m.problems[0].message == (
        "metadata.orbit.hardware.gpu asks for 3 NVIDIA GPUs, and this machine has 2"
    )


def test_gpus_matched_and_unusable_ones_say_the_fix():
    m = hn.match(needs({"gpu": {"count": "all"}}), fixture("nvidia"))
    assert m.ok and [g.path for g in m.gpus] == ["/dev/nvidia0", "/dev/nvidia1"]
    m = hn.match(needs({"gpu": True}), fixture("amd"))
    assert [p.message for p in m.problems] == [
        "AMD GPU (/dev/dri/renderD128) needs membership of group render (to open /dev/dri/renderD128)",
        "AMD GPU (/dev/dri/renderD128) needs membership of group render (to open /dev/kfd)",
    ]
    assert m.problems[0].hint.startswith("sudo usermod -aG render")


def test_serial_by_usb_id_and_port():
    d = fixture("none", groups=frozenset({"dialout"}), serial_ports=fixture_ports)
    m = hn.match(needs({"serial": ["2e8a:0005", "/dev/ttyUSB0"]}), d)
    assert m.ok and [p.path for p in m.serial] == ["/dev/ttyACM0", "/dev/ttyUSB0"]
    m = hn.match(needs({"serial": "f055:9800"}), d)
    assert m.problems[0].message == (
        "no serial device USB device f055:9800 here: metadata.orbit.hardware.serial asks for it"
    )
    m = hn.match(needs({"serial": "/dev/ttyACM0"}), fixture("none", serial_ports=fixture_ports))
    assert "needs membership of group dialout" in m.problems[0].message


def test_visa_not_listed_is_a_warning_only():
    m = hn.match(needs({"visa": "TCPIP0::10.0.0.5::INSTR"}), fixture("none"))
    assert m.ok and "was not listed here" in m.warnings[0]


# -- containers (golden) -----------------------------------------------------------------------


def engine_host_config(kwargs: dict) -> dict:
    """The Engine API's HostConfig that docker-py sends for a kernel container: Orbit's own
    container spec (engines/container_kernel.py) with the devices merged in."""
    from docker.models.containers import _create_container_args

    from jupyter_orbit.engines.container_kernel import container_spec

    args = argparse.Namespace(
        image="orbit-kernel:x",
        env_id="abc",
        mount=[],
        read_only=[],
        options="{}",
        devices="{}",
        network=[],
        pass_env=[],
        argv=["python3"],
    )
    conn = dict.fromkeys(("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"), 1)
    spec = container_spec(args, conn)
    spec.update(kwargs)
    spec["version"] = "1.41"
    host = dict(_create_container_args(spec)["host_config"])
    keep = ("DeviceRequests", "Devices", "GroupAdd", "Privileged", "SecurityOpt")
    return {k: host.get(k) for k in keep}


def gpu_box(**support) -> Detection:
    d = fixture("nvidia")
    return replace(d, containers=replace(d.containers, **support))


def test_container_devices_golden():
    cases = {}
    d = fixture("nvidia")
    cases["nvidia one gpu, toolkit"] = hn.container_devices(
        hn.match(needs({"gpu": True}), d), d, cdi_enabled=False, allow_serial=False
    )
    cases["nvidia all gpus, toolkit"] = hn.container_devices(
        hn.match(needs({"gpu": {"count": "all"}}), d), d, cdi_enabled=False, allow_serial=False
    )
    cases["nvidia all gpus, cdi"] = hn.container_devices(
        hn.match(needs({"gpu": {"count": "all"}}), d), d, cdi_enabled=True, allow_serial=False
    )
    cases["nvidia two gpus, cdi"] = hn.container_devices(
        hn.match(needs({"gpu": 2}), d), d, cdi_enabled=True, allow_serial=False
    )
    amd = fixture("amd", groups=frozenset({"render"}))
    cases["amd gpu"] = hn.container_devices(
        hn.match(needs({"gpu": "amd"}), amd), amd, cdi_enabled=False, allow_serial=False
    )
    board = fixture("none", groups=frozenset({"dialout"}), serial_ports=fixture_ports)
    cases["serial board, allowed"] = hn.container_devices(
        hn.match(needs({"serial": "2e8a:0005"}), board), board, cdi_enabled=False, allow_serial=True
    )
    cases["nothing declared"] = hn.container_devices(
        hn.match(needs({}), d), d, cdi_enabled=True, allow_serial=True
    )
    golden(
        "container-devices.json",
        {name: engine_host_config(c.create_kwargs()) for name, c in cases.items()},
    )
    assert cases["nothing declared"].empty
    # docker-py's own type, as containers.create wants it
    from docker.types import DeviceRequest

    (req,) = cases["nvidia all gpus, toolkit"].create_kwargs()["device_requests"]
    assert isinstance(req, DeviceRequest) and req.count == -1 and req.capabilities == [["gpu"]]


def test_container_refusals_give_the_reason():
    d = gpu_box(nvidia_toolkit=None, cdi_devices=())
    with pytest.raises(BuildError) as e:
        hn.container_devices(
            hn.match(needs({"gpu": True}), d), d, cdi_enabled=True, allow_serial=False
        )
    assert "neither the NVIDIA Container Toolkit nor CDI specs" in e.value.message
    assert "nvidia-ctk runtime configure" in e.value.hint and e.value.path == NB

    board = fixture("none", groups=frozenset({"dialout"}), serial_ports=fixture_ports)
    with pytest.raises(BuildError) as e:
        hn.container_devices(
            hn.match(needs({"serial": "2e8a:0005"}), board),
            board,
            cdi_enabled=False,
            allow_serial=False,
        )
    assert e.value.message == (
        "metadata.orbit.hardware.serial asks for /dev/ttyACM0 in the kernel's container, and this "
        "profile does not pass serial devices into containers"
    )
    assert "container_serial = true" in e.value.hint

    with pytest.raises(BuildError, match="no GPU here"):
        none = fixture("none")
        hn.container_devices(
            hn.match(needs({"gpu": True}), none), none, cdi_enabled=False, allow_serial=True
        )


def test_cdi_without_the_named_devices_falls_back_to_the_toolkit():
    d = gpu_box(cdi_devices=("nvidia.com/gpu=GPU-3b6e1c2a",))
    c = hn.container_devices(
        hn.match(needs({"gpu": True}), d), d, cdi_enabled=True, allow_serial=False
    )
    assert c.device_requests == (
        {"device_ids": ["GPU-3b6e1c2a-8f0d-4d6e-9a51-0c7e2f9b1d11"], "capabilities": [["gpu"]]},
    )


def test_engine_cdi_enabled_from_info():
    assert hn.engine_cdi_enabled({"CDISpecDirs": ["/etc/cdi", "/var/run/cdi"]})
    assert not hn.engine_cdi_enabled({"CDISpecDirs": []})
    assert not hn.engine_cdi_enabled({})  # engines before 27 do not say


def test_a_real_engine_says_whether_it_has_cdi():
    docker = pytest.importorskip("docker")
    try:
        info = docker.from_env(timeout=10).info()
    except Exception as e:
        pytest.skip(f"no container engine: {e}")
    assert hn.engine_cdi_enabled(info) == bool(info.get("CDISpecDirs"))


# -- the hub -----------------------------------------------------------------------------------


def test_hub_config_passes_gpus_through_docker_py():
    from docker.types import HostConfig
    from traitlets.config import Config

    d = fixture("nvidia")
    host = hn.hub_host_config(hn.match(needs({"gpu": {"count": "all"}}), d), d, cdi_enabled=False)
    assert host == {"device_requests": [{"capabilities": [["gpu"]], "count": -1}]}
    lines = hn.hub_config_lines(host)
    c = Config()
    c.DockerSpawner.extra_host_config = {"cap_drop": ["ALL"]}  # what the hub config sets first
    exec(lines, {"c": c})
    # DockerSpawner hands extra_host_config to docker-py's create_host_config
    hc = HostConfig(version="1.41", **c.DockerSpawner.extra_host_config)
    assert hc["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert hc["CapDrop"] == ["ALL"]
    assert hn.hub_config_lines({}) == ""


def test_hub_refuses_serial_devices():
    board = fixture("none", groups=frozenset({"dialout"}), serial_ports=fixture_ports)
    with pytest.raises(BuildError, match="a hub does not pass serial devices"):
        hn.hub_host_config(
            hn.match(needs({"serial": "2e8a:0005"}), board), board, cdi_enabled=False
        )


def test_devices_without_details_add_no_groups():
    d = Detection(
        (Device("gpu", "AMD GPU", "/dev/dri/renderD128", "amd", {"rocm": "yes"}),),
        ContainerSupport(),
    )
    c = hn.container_devices(
        hn.match(needs({"gpu": True}), d), d, cdi_enabled=False, allow_serial=False
    )
    assert c.devices == ("/dev/kfd:/dev/kfd:rwm", "/dev/dri/renderD128:/dev/dri/renderD128:rwm")
    assert c.group_add == ()


def test_kubernetes_limits_come_from_the_declaration():
    assert hn.kubernetes_limits(needs({"gpu": 2})) == {"nvidia.com/gpu": "2"}
    assert hn.kubernetes_limits(needs({"gpu": "amd"})) == {"amd.com/gpu": "1"}
    assert hn.kubernetes_limits(needs({"gpu": {"vendor": "intel", "count": 3}})) == {
        "gpu.intel.com/i915": "3"
    }
    assert hn.kubernetes_limits(needs({"serial": "/dev/ttyACM0"})) == {}
    with pytest.raises(InputError) as e:
        hn.kubernetes_limits(needs({"gpu": {"count": "all"}}))
    assert "cannot be a Kubernetes limit" in e.value.message and e.value.path == NB


def test_kernel_env_names_the_declared_device_or_the_port_found_for_it():
    env = hn.kernel_env(needs({"serial": ["2e8a:0005", "/dev/ttyUSB0"], "visa": "GPIB0::5::INSTR"}))
    assert env == {"ORBIT_SERIAL_PORT": "2e8a:0005", "ORBIT_VISA_RESOURCE": "GPIB0::5::INSTR"}
    assert hn.kernel_env(needs({"gpu": True})) == {}
    d = fixture("none", serial_ports=fixture_ports)
    n = needs({"serial": "2e8a:0005"})
    assert hn.kernel_env(n, hn.match(n, d)) == {"ORBIT_SERIAL_PORT": "/dev/ttyACM0"}
    assert set(env) == set(hn.KERNEL_ENV)


def test_merged_needs_of_a_project():
    merged = hn.merge_needs(
        [
            needs({"gpu": 1}),
            needs({"gpu": {"vendor": "nvidia", "count": 2}}),
            needs({"visa": "GPIB0::5::INSTR"}),
            needs({}),
        ]
    )
    assert merged.gpu == hn.GpuNeed("nvidia", 2) and merged.visa == ("GPIB0::5::INSTR",)
    assert hn.merge_needs([needs({"gpu": 1}), needs({"gpu": {"count": "all"}})]).gpu.count is None
    assert hn.merge_needs([]).empty
    with pytest.raises(InputError, match="ask for 1 NVIDIA GPU and 1 AMD GPU"):
        hn.merge_needs([needs({"gpu": "nvidia"}), needs({"gpu": "amd"})])


@pytest.mark.integration
def test_kernel_env_reaches_the_micropython_kernel(device_kernel, board):
    """The variables kernel_env makes are the ones the device kernel reads."""
    b = board()
    env = hn.kernel_env(needs({"serial": b.port}))
    k = device_kernel("jupyter_orbit.kernels.devices.micropython", env)
    assert k.execute("print(7 * 6)").stream() == "42\n"
