"""Detection from fixture trees: a fake /dev and /sys, a stand-in nvidia-smi, CDI specs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from jupyter_orbit.hardware import detect as hw
from jupyter_orbit.hardware.detect import Probe, SerialPort
from tests.support.devices import SCOPE

FIXTURES = Path(__file__).parent / "fixtures"


def no_nvml():
    return [], None


def no_serial():
    return []


def no_visa(timeout):
    return [], None


def fixture(name: str, *, groups=frozenset({"users"}), **kw) -> hw.Detection:
    probe = Probe(root=FIXTURES / name, groups=groups, is_root=False)
    kw.setdefault("serial_ports", no_serial)
    kw.setdefault("visa", no_visa)
    kw.setdefault("nvml", no_nvml)
    return hw.detect(probe, **kw)


def fixture_ports() -> list[SerialPort]:
    return [SerialPort(**p) for p in json.loads((FIXTURES / "serial-ports.json").read_text())]


def test_nvidia_gpus_from_nvidia_smi_with_cuda_version_and_toolkit():
    d = fixture("nvidia")
    gpus = d.gpus("nvidia")
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A4000"]
    assert gpus[0].path == "/dev/nvidia0"
    assert gpus[1].details["uuid"] == "GPU-91f2d7c4-2b8e-4f3a-a6d0-5e4c3b2a1f00"
    assert gpus[0].details["memory_mib"] == "24564"
    assert gpus[0].details["compute_capability"] == "8.9"
    assert gpus[0].details["source"] == "nvidia-smi"
    assert d.cuda_version == "12.4"
    assert d.containers.nvidia_toolkit == "/usr/bin/nvidia-container-runtime-hook"
    assert all(g.usable for g in gpus)
    assert all(n.met for g in gpus for n in g.needs)


def test_cdi_specs_are_read_and_a_broken_one_is_a_note():
    d = fixture("nvidia")
    assert d.containers.cdi_devices == (
        "nvidia.com/gpu=0",
        "nvidia.com/gpu=1",
        "nvidia.com/gpu=all",
    )
    assert d.containers.cdi_specs == ("/etc/cdi/nvidia.yaml",)
    assert any("broken.json" in n for n in d.notes), d.notes


def test_cameras_with_their_names_and_the_video_group():
    cams = fixture("nvidia").of_kind("camera")
    assert [(c.path, c.name) for c in cams] == [
        ("/dev/video0", "Integrated Camera: Integrated C"),
        ("/dev/video1", "Integrated Camera: Metadata"),
    ]
    need = cams[0].needs[0]
    assert "group video" in need.what and not need.met
    assert "usermod -aG video" in need.fix
    assert fixture("nvidia", groups=frozenset({"video"})).of_kind("camera")[0].usable


def test_nvidia_nodes_without_driver_tools_say_what_is_missing():
    d = fixture("nodes-only")
    (gpu,) = d.gpus()
    assert gpu.vendor == "nvidia" and gpu.path == "/dev/nvidia0"
    assert not gpu.usable
    missing = [n for n in gpu.needs if not n.met]
    assert any("NVIDIA driver" in n.what for n in missing)
    assert any("Container Toolkit" in n.what and n.containers_only for n in missing)
    assert any("neither NVML nor nvidia-smi" in n for n in d.notes)
    assert d.cuda_version is None


def test_amd_gpu_with_rocm_needs_render_group():
    d = fixture("amd")
    (gpu,) = d.gpus()
    assert (gpu.vendor, gpu.path, gpu.details["rocm"]) == ("amd", "/dev/dri/renderD128", "yes")
    assert gpu.details["pci"] == "0x1002:0x73bf"
    assert [n.what for n in gpu.needs if not n.met] == [
        "membership of group render (to open /dev/dri/renderD128)",
        "membership of group render (to open /dev/kfd)",
    ]
    assert fixture("amd", groups=frozenset({"render"})).gpus()[0].usable


def test_intel_gpu_and_nvidia_render_nodes_are_not_double_counted():
    d = fixture("intel")
    assert [(g.vendor, g.path) for g in d.gpus()] == [("intel", "/dev/dri/renderD128")]


def test_nothing_here():
    d = fixture("none")
    assert d.devices == () and d.cuda_version is None
    assert d.containers == hw.ContainerSupport()


def test_nvml_is_preferred_and_its_failure_is_a_note():
    def nvml():
        return [
            {
                "index": "0",
                "name": "Tesla T4",
                "uuid": "GPU-x",
                "memory_mib": "15360",
                "driver": "535.1",
                "compute_capability": "7.5",
                "cuda": "12.2",
            }
        ], None

    d = fixture("nvidia", nvml=nvml)
    assert [g.name for g in d.gpus()] == ["Tesla T4"]
    assert d.cuda_version == "12.2" and d.gpus()[0].details["source"] == "NVML"

    d = fixture("nvidia", nvml=lambda: ([], "NVML: Driver Not Loaded"))
    assert "NVML: Driver Not Loaded" in d.notes
    assert len(d.gpus()) == 2  # nvidia-smi answered instead


def test_real_nvml_without_a_driver_answers_nothing_quietly():
    pytest.importorskip("pynvml")
    gpus, problem = hw.nvml_gpus()
    if gpus or Path("/dev/nvidiactl").exists():
        pytest.skip("this machine has an NVIDIA driver")
    assert (gpus, problem) == ([], None)  # no library: not worth a note, nvidia-smi is next


def test_serial_ports_with_usb_ids_group_and_udev_rule():
    d = fixture("none", serial_ports=fixture_ports)
    ports = d.of_kind("serial")
    assert [p.path for p in ports] == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyS0"]
    pico = ports[0]
    assert pico.details["usb"] == "2e8a:0005"
    assert pico.details["serial_number"] == "e6614c311b7e6f35"
    assert pico.details["board"] == "Raspberry Pi (RP2040/RP2350)"
    group, udev = pico.needs
    assert group.what == "membership of group dialout (to open /dev/ttyACM0)" and not group.met
    assert not pico.usable
    assert udev.containers_only and not udev.met
    assert 'ATTRS{idVendor}=="2e8a", ATTRS{idProduct}=="0005"' in udev.fix
    assert 'ATTRS{serial}=="e6614c311b7e6f35"' in udev.fix
    assert 'GROUP="dialout"' in udev.fix and "udevadm trigger" in udev.fix
    assert ports[1].details["usb"] == "10c4:ea60"
    assert "usb" not in ports[2].details and len(ports[2].needs) == 1  # no USB: no udev rule
    dialout = fixture("none", groups=frozenset({"dialout"}), serial_ports=fixture_ports)
    assert all(p.usable for p in dialout.of_kind("serial"))


def test_pyserial_list_port_info_is_converted():
    from serial.tools.list_ports_common import ListPortInfo

    info = ListPortInfo("/dev/ttyACM7", skip_link_detection=True)
    info.vid, info.pid, info.serial_number = 0x239A, 0x80F4, "DF6050788B3E2B2D"
    info.manufacturer, info.product = "Raspberry Pi", "Pico"
    port = hw.from_pyserial(info)
    assert port.usb_id == "239a:80f4" and port.product == "Pico"
    assert port.description == ""  # pyserial's "n/a"


def test_real_pyserial_lists_this_machines_ports():
    ports = hw.pyserial_ports()
    assert all(isinstance(p, SerialPort) and p.device.startswith("/dev/") for p in ports)


def test_missing_pyserial_is_a_note():
    def lister():
        raise ImportError("No module named 'serial'")

    d = fixture("none", serial_ports=lister)
    assert d.notes == ("serial ports: pyserial is not installed (pip install pyserial)",)


def test_visa_instruments_from_pyvisa_sim():
    lister = hw.pyvisa_resources(f"{SCOPE}@sim")
    d = fixture("none", visa=lister)
    visa = d.of_kind("visa")
    assert [v.path for v in visa] == [
        "TCPIP0::127.0.0.1::inst0::INSTR",
        "USB0::0x1AB1::0x04CE::DS1ZA000000001::0::INSTR",
    ]
    assert [v.details["interface"] for v in visa] == ["TCPIP", "USB"]


def test_visa_that_does_not_answer_is_bounded_and_noted(monkeypatch):
    pyvisa = pytest.importorskip("pyvisa")
    release = threading.Event()

    class Hanging:
        def __init__(self, *a):
            release.wait(30)

    monkeypatch.setattr(pyvisa, "ResourceManager", Hanging)
    try:
        found, problem = hw.pyvisa_resources("@py")(0.2)
    finally:
        release.set()
    assert found == [] and problem == "VISA: no answer within 0.2 s (instruments not listed)"


def test_visa_library_error_is_a_note():
    found, problem = hw.pyvisa_resources("/nonexistent/libvisa.so")(5)
    assert found == [] and problem.startswith("VISA: ")


def test_json_round_trip_has_every_field():
    d = fixture("nvidia", serial_ports=fixture_ports)
    doc = json.loads(json.dumps(d.to_dict()))
    assert doc["cuda_version"] == "12.4"
    assert doc["containers"]["cdi_devices"][0] == "nvidia.com/gpu=0"
    kinds = [x["kind"] for x in doc["devices"]]
    assert kinds.count("gpu") == 2 and kinds.count("serial") == 3 and kinds.count("camera") == 2
    assert doc["devices"][2]["needs"][0]["fix"].startswith("sudo usermod -aG dialout")
