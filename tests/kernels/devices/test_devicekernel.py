"""The device-kernel SDK, through the worked example in docs/hardware.md (run as written) against
a line device answering on a pty."""

from __future__ import annotations

import os
import re
import sys
import threading
import tty
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOCS = Path(__file__).parents[3] / "docs" / "hardware.md"


def example_source() -> str:
    text = DOCS.read_text()
    m = re.search(r"<!-- example: linedevice\.py.*?-->\n```python\n(.*?)```", text, re.S)
    assert m, "the worked example is missing from docs/hardware.md"
    return m.group(1)


class LineDevice:
    """Answers "TEMP?" with a reading that rises by 0.5 each time, "ID?" with its name, and
    anything else with "ERR unknown"; stays silent for "MUTE"."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self.slave = slave
        self.temperature = 20.0
        self.heard: list[str] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        buf = b""
        while True:
            try:
                data = os.read(self.master, 1024)
            except OSError:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                command = line.decode().strip()
                self.heard.append(command)
                if command == "TEMP?":
                    self.temperature += 0.5
                    os.write(self.master, f"{self.temperature:.1f}\n".encode())
                elif command == "ID?":
                    os.write(self.master, b"LINE-DEVICE v2\n")
                elif command != "MUTE":
                    os.write(self.master, b"ERR unknown\n")


@pytest.fixture
def line_kernel(tmp_path, device_kernel):
    (tmp_path / "linedevice.py").write_text(example_source())
    (tmp_path / "extended.py").write_text(
        "from linedevice import LineDeviceKernel, launch\n"
        "class Extended(LineDeviceKernel):\n"
        "    def cell_magic_each(self, args, body):\n"
        '        """%%each PREFIX: send PREFIX + each line of the cell."""\n'
        "        for line in body.splitlines():\n"
        "            self.print(self.ask(args + line) + '\\n')\n"
        "launch(Extended)\n"
    )
    device = LineDevice()

    def start(**env):
        argv = [sys.executable, str(tmp_path / "extended.py"), "-f", "{connection_file}"]
        env = {"LINEDEVICE_PORT": device.port, "PYTHONPATH": str(tmp_path), **env}
        return device_kernel("", env, argv=argv)

    return device, start


def test_cells_magics_and_live_display(line_kernel):
    device, start = line_kernel
    k = start()
    r = k.execute("ID?\n\nTEMP?")
    assert r.status == "ok", r.content
    assert r.stream() == "LINE-DEVICE v2\n20.5\n"
    r = k.execute("%watch TEMP? 4")
    (shown,) = r.of_type("display_data")
    updates = r.of_type("update_display_data")
    assert shown["data"] == {"text/plain": "TEMP? = 21.0"}
    assert [u["data"]["text/plain"] for u in updates] == [
        "TEMP? = 21.5",
        "TEMP? = 22.0",
        "TEMP? = 22.5",
    ]
    assert {u["transient"]["display_id"] for u in updates} == {shown["transient"]["display_id"]}
    r = k.execute("%%each TEMP\n?\n?")
    assert r.stream() == "23.0\n23.5\n"
    assert device.heard[-2:] == ["TEMP?", "TEMP?"]


def test_magics_run_before_the_code_and_help_and_errors(line_kernel):
    _, start = line_kernel
    k = start()
    r = k.execute("%version\nID?")
    assert r.stream() == "line-device 1\nLINE-DEVICE v2\n"
    help_text = k.execute("%help").stream()
    assert "%watch" in help_text and "COMMAND [N]: show COMMAND's answer N times" in help_text
    assert "%%each" in help_text and "%disconnect" in help_text
    r = k.execute("%nope")
    assert r.status == "error" and r.content["ename"] == "DeviceError"
    assert r.content["evalue"] == "unknown magic %nope"
    assert "%watch" in r.of_type("error")[0]["traceback"][0]
    r = k.execute("%%nope\nx")
    assert r.content["evalue"] == "unknown magic %%nope"


def test_device_errors_say_the_fix_and_the_kernel_recovers(line_kernel):
    _, start = line_kernel
    k = start(LINEDEVICE_PORT="/dev/ttyNOPE0")
    r = k.execute("ID?")
    assert r.content["ename"] == "DeviceError"
    tb = r.of_type("error")[0]["traceback"][0]
    assert tb.startswith("cannot open /dev/ttyNOPE0") and tb.endswith("Fix: set LINEDEVICE_PORT")
    r = k.execute("%version")
    assert r.status == "ok"


def test_silence_is_a_device_error_and_the_next_cell_reconnects(line_kernel):
    _, start = line_kernel
    k = start()
    r = k.execute("MUTE")
    assert r.content["evalue"] == "no answer to 'MUTE'"
    assert k.execute("ID?").stream() == "LINE-DEVICE v2\n"


def test_completion_interrupt_and_shutdown(line_kernel):
    _, start = line_kernel
    k = start()
    c = k.complete("ID?\n%wa")
    assert c["matches"] == ["%watch"] and c["cursor_start"] == 4 and c["cursor_end"] == 7
    assert k.complete("%%e")["matches"] == ["%%each"]
    assert k.complete("TEMP")["matches"] == []
    msg_id = k.kc.execute("%watch TEMP? 100000")
    seen = []
    while not any(t == "update_display_data" for t, _ in seen):
        msg = k.kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id:
            seen.append((msg["msg_type"], msg["content"]))
    k.km.interrupt_kernel()
    assert k.collect(msg_id).content["ename"] == "KeyboardInterrupt"
    assert k.execute("ID?").stream() == "LINE-DEVICE v2\n"
    k.kc.stop_channels()
    k.km.shutdown_kernel()
    assert not k.km.is_alive()
