"""The SCPI kernel against an oscilloscope simulated by pyvisa-sim (tests/support/scope.yaml), started
by jupyter_client as Jupyter would."""

from __future__ import annotations

import base64
import struct

import pytest

from jupyter_orbit.kernels.devices import scpi
from tests.support.devices import SCOPE

MODULE = "jupyter_orbit.kernels.devices.scpi"
TCPIP = "TCPIP0::127.0.0.1::inst0::INSTR"
USB = "USB0::0x1AB1::0x04CE::DS1ZA000000001::0::INSTR"
SIM = {"ORBIT_VISA_BACKEND": f"{SCOPE}@sim", "ORBIT_VISA_RESOURCE": TCPIP}


def png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def test_block_and_time_axis():
    assert scpi.parse_block("#9000000011 1.0,2.5,-3") == [1.0, 2.5, -3.0]
    assert scpi.parse_block("0.5,0.25\n") == [0.5, 0.25]
    assert scpi.time_axis("2,0,3,1,1e-3,-1e-3,0,0.01,0,0", 3) == [-1e-3, 0.0, 1e-3]


@pytest.mark.integration
def test_idn_queries_and_writes(device_kernel):
    k = device_kernel(MODULE, SIM)
    r = k.execute("*IDN?")
    assert r.status == "ok", r.content
    assert r.stream() == "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP4\n"
    r = k.execute(":TIM:MAIN:SCAL 0.001   # 1 ms per division\n\n:TIM:MAIN:SCAL?")
    assert r.stream() == "1.000000e-03\n"


@pytest.mark.integration
def test_waveform_cell_plots(device_kernel):
    k = device_kernel(MODULE, SIM)
    r = k.execute("%waveform CHAN2")
    assert r.status == "ok", r.content
    (shown,) = r.of_type("display_data")
    assert shown["data"]["text/plain"] == "<waveform CHAN2: 200 points>"
    assert png_size(shown["data"]["image/png"]) == (700, 320)
    assert shown["transient"]["display_id"]
    assert k.execute(":WAV:SOUR?").stream() == "CHAN2\n"


@pytest.mark.integration
def test_live_waveform_updates_one_display(device_kernel):
    k = device_kernel(MODULE, SIM)
    r = k.execute("%waveform --live 3 --every 0.05")
    (first,) = r.of_type("display_data")
    updates = r.of_type("update_display_data")
    assert len(updates) == 2
    ids = {u["transient"]["display_id"] for u in updates}
    assert ids == {first["transient"]["display_id"]}
    assert all(png_size(u["data"]["image/png"]) == (700, 320) for u in updates)


@pytest.mark.integration
def test_connect_list_and_backend(device_kernel):
    k = device_kernel(MODULE, {"ORBIT_VISA_BACKEND": SIM["ORBIT_VISA_BACKEND"]})
    r = k.execute("*IDN?")
    assert r.content["ename"] == "DeviceError"
    assert r.content["evalue"] == "which instrument? none is chosen"
    assert k.execute("%list").stream().splitlines() == [TCPIP, USB]
    r = k.execute(f"%connect {USB}\n*IDN?")
    assert r.stream().splitlines() == [
        f"connected to {USB}",
        "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP4",
    ]
    assert k.execute("%backend").stream() == f"{SIM['ORBIT_VISA_BACKEND']}\n"
    r = k.execute("%connect not-a-resource")
    assert r.content["evalue"].startswith("could not open not-a-resource")


@pytest.mark.integration
def test_unanswered_query_times_out_clearly(device_kernel):
    k = device_kernel(MODULE, {**SIM, "ORBIT_VISA_TIMEOUT": "0.5"})
    r = k.execute(":WAV:FORM ASC\n:NOT:A:QUERY?")
    # pyvisa-sim answers an unknown command with its error text, as some instruments do
    assert r.status == "ok" and r.stream() == "ERROR\n"
    r = k.execute("%query *RST")  # a command that answers nothing
    assert r.content["ename"] == "DeviceError"
    assert r.content["evalue"] == f"{TCPIP} did not answer '*RST' within 0.5 s"
    assert k.execute("*IDN?").stream().startswith("RIGOL")


@pytest.mark.integration
def test_interrupt_a_live_plot_and_complete_magics(device_kernel):
    k = device_kernel(MODULE, SIM)
    msg_id = k.kc.execute("%waveform --live 500 --every 0.05")
    seen = []
    while not any(t == "update_display_data" for t, _ in seen):
        msg = k.kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id:
            seen.append((msg["msg_type"], msg["content"]))
    k.km.interrupt_kernel()
    r = k.collect(msg_id)
    assert r.content["ename"] == "KeyboardInterrupt"
    assert k.execute("*IDN?").stream().startswith("RIGOL")
    c = k.complete("%wa")
    assert c["matches"] == ["%waveform"]


@pytest.mark.integration
def test_shutdown_closes_the_session(device_kernel):
    k = device_kernel(MODULE, SIM)
    assert k.execute("*IDN?").status == "ok"
    k.kc.stop_channels()
    k.km.shutdown_kernel()
    assert not k.km.is_alive()
