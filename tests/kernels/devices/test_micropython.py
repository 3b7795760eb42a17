"""The MicroPython kernel against a simulated board on a pty: real raw REPL, real raw-paste flow
control, real pyserial, a real kernel started by jupyter_client."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

MODULE = "jupyter_orbit.kernels.devices.micropython"


def start(device_kernel, board, *flags, timeout="10", main=None):
    b = board(*flags, main=main)
    k = device_kernel(MODULE, {"ORBIT_SERIAL_PORT": b.port, "ORBIT_MICROPYTHON_TIMEOUT": timeout})
    return b, k


def test_cells_run_on_the_board_and_keep_their_state(device_kernel, board):
    b, k = start(device_kernel, board)
    r = k.execute("x = 6 * 7\nprint(x)")
    assert r.status == "ok", r.content
    assert r.stream() == "42\n"
    r = k.execute("import sys\nprint(sys.implementation.name, x + 1)")
    assert r.stream().split()[1] == "43"
    modes = [e["mode"] for e in b.events() if e["event"] == "exec"]
    assert modes == ["raw-paste", "raw-paste"]


def test_board_errors_are_cell_errors_with_the_boards_traceback(device_kernel, board):
    _, k = start(device_kernel, board)
    r = k.execute("print('before')\n1 / 0")
    assert r.status == "error"
    assert r.content["ename"] == "ZeroDivisionError"
    (err,) = r.of_type("error")
    assert "Traceback (most recent call last)" in err["traceback"][0]
    assert 'File "<stdin>", line 2' in err["traceback"][0]
    assert r.stream() == "before\n"
    assert k.execute("print('still here')").stream() == "still here\n"


def test_raw_paste_keeps_to_the_window(device_kernel, board):
    b, k = start(device_kernel, board, "--window", "64")
    code = "total = 0\n" + "".join(
        f"total += {i}  # some padding to make it long\n" for i in range(200)
    )
    code += "print(total)"
    assert len(code.encode()) > 64 * 50
    r = k.execute(code)
    assert r.stream() == f"{sum(range(200))}\n"
    events = b.events()
    assert {"event": "raw-paste", "window": 64} in events
    assert not [e for e in events if e["event"] == "violation"]


@pytest.mark.parametrize("flag", ["--no-raw-paste", "--old-firmware"])
def test_falls_back_to_the_plain_raw_repl(device_kernel, board, flag):
    b, k = start(device_kernel, board, flag)
    for _ in range(2):
        r = k.execute("print('a' * 300)\n" + "# filler\n" * 60)
        assert r.stream() == "a" * 300 + "\n"
    events = b.events()
    assert [e["mode"] for e in events if e["event"] == "exec"] == ["raw", "raw"]
    assert (flag == "--no-raw-paste") == any(e["event"] == "raw-paste-refused" for e in events)


def test_a_busy_main_py_is_stopped(device_kernel, board):
    main = (
        "import time\nn = 0\nwhile True:\n    print('tick', n)\n    n += 1\n    time.sleep(0.05)\n"
    )
    b, k = start(device_kernel, board, main=main)
    time.sleep(1)  # let main.py run for a while, as a board that booted before we came
    r = k.execute("print('cell ran')")
    assert r.status == "ok", r.content
    assert r.stream() == "cell ran\n"
    said = r.stream("stderr")
    assert "the board was busy; stopped it with Ctrl-C" in said
    assert 'File "main.py"' in said and "KeyboardInterrupt" in said
    assert any(e["event"] == "interrupt" and e["mode"] == "main" for e in b.events())


def test_interrupt_stops_the_cell_on_the_board(device_kernel, board):
    b, k = start(device_kernel, board)
    k.execute("count = 0")
    msg_id = k.kc.execute(
        "import time\nprint('started')\nwhile True:\n    count += 1\n    time.sleep(0.01)"
    )
    k.wait_for_output(msg_id, "started")
    k.km.interrupt_kernel()
    r = k.collect(msg_id)
    assert r.status == "error" and r.content["ename"] == "KeyboardInterrupt"
    assert any(e["event"] == "interrupt" and e["mode"] == "raw-paste" for e in b.events())
    r = k.execute("print(count > 0)")
    assert r.stream() == "True\n"


def test_upload_ls_and_import(device_kernel, board, tmp_path):
    b, k = start(device_kernel, board)
    (tmp_path / "blink.py").write_text("def blink(n):\n    return 'on ' * n\n" + "# pad\n" * 400)
    data = (tmp_path / "blink.py").read_bytes()
    r = k.execute("%upload blink.py lib_blink.py")
    assert r.status == "ok", r.content
    assert r.stream() == f"uploaded blink.py to lib_blink.py on the board ({len(data)} bytes)\n"
    assert (b.fs / "lib_blink.py").read_bytes() == data
    (b.fs / "sub").mkdir()
    r = k.execute("%ls")
    assert r.stream().splitlines() == [f"{len(data)}  lib_blink.py", "sub/"]
    assert k.execute("%ls sub").stream() == "(empty)\n"
    r = k.execute("%upload blink.py\nimport blink\nprint(blink.blink(2))")
    assert r.stream().endswith("on on \n")
    assert k.execute("%upload nothere.py").content["evalue"].startswith("cannot read nothere.py")


def test_reset_forgets_the_variables(device_kernel, board):
    b, k = start(device_kernel, board)
    k.execute("y = 1")
    r = k.execute("%reset")
    assert "soft reboot" in r.stream()
    r = k.execute("print(y)")
    assert r.content["ename"] == "NameError"
    assert any(e["event"] == "soft-reset" and e["raw"] for e in b.events())


def test_a_sleeping_board_times_out_clearly_then_works(device_kernel, board):
    b, k = start(device_kernel, board, "--asleep", "5", timeout="0.5")
    r = k.execute("print(1)")
    assert r.status == "error" and r.content["ename"] == "DeviceError"
    text = r.of_type("error")[0]["traceback"][0]
    assert f"the board on {b.port} does not answer" in text
    assert "Fix: it may be asleep" in text and "press its reset button" in text
    time.sleep(5)
    r = k.execute("print('awake')")
    assert r.stream() == "awake\n", r.content


def test_a_slow_board_streams_its_output(device_kernel, board):
    _, k = start(device_kernel, board, "--slow", "0.02")
    r = k.execute("import time\nfor i in range(3):\n    print('line', i)\n    time.sleep(0.3)")
    assert r.stream() == "line 0\nline 1\nline 2\n"
    assert len(r.of_type("stream")) >= 3  # each line came as it was printed


def test_magics_complete_help_and_port(device_kernel, board):
    b, k = start(device_kernel, board)
    c = k.complete("%up")
    assert c["matches"] == ["%upload"] and c["cursor_start"] == 0
    c = k.complete("x = 1\n%")
    assert set(c["matches"]) >= {"%ls", "%port", "%reset", "%upload", "%help"}
    assert "%upload LOCAL [REMOTE]" in k.execute("%help").stream()
    k.execute("print(0)")
    assert k.execute("%port").stream() == f"{b.port}\n"
    r = k.execute("%blink")
    assert r.content["evalue"] == "unknown magic %blink"


def test_no_port_is_a_clear_error(device_kernel):
    k = device_kernel(MODULE, {"ORBIT_SERIAL_PORT": "/dev/ttyNOPE9"})
    r = k.execute("print(1)")
    assert r.content["ename"] == "DeviceError"
    assert r.content["evalue"].startswith("could not open /dev/ttyNOPE9")


def test_shutdown_lets_go_of_the_board(device_kernel, board):
    import serial

    from jupyter_orbit.kernels.devices.rawrepl import RawRepl

    b, k = start(device_kernel, board)
    k.execute("z = 5")
    k.kc.stop_channels()
    k.km.shutdown_kernel()
    assert not k.km.is_alive()
    # The port is free and the board answers whoever comes next, with its state intact.
    link = serial.Serial(b.port, 115200, timeout=0.05, exclusive=True)
    out: list[str] = []
    repl = RawRepl(link, timeout=5)
    repl.enter_raw()
    assert repl.exec("print(z)", out.append) == ""
    assert "".join(out) == "5\r\n"
    link.close()
