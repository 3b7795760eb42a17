"""The host side of MicroPython's raw REPL and raw-paste mode, over any serial-like link.

The protocol, as MicroPython documents it:

- Ctrl-C (``\\x03``) interrupts a running program (``main.py``, a loop); Ctrl-A (``\\x01``)
  enters the raw REPL, which answers ``raw REPL; CTRL-B to exit\\r\\n>``.
- Raw REPL: the host sends code and Ctrl-D (``\\x04``); the board answers ``OK``, runs it, and
  sends its output, ``\\x04``, the error output (a traceback, or nothing), ``\\x04`` and the
  prompt ``>``. Ctrl-D on an empty buffer soft-resets the board.
- Raw-paste mode: in the raw REPL, the host sends Ctrl-E, ``A``, Ctrl-A. ``R\\x01`` means yes,
  followed by a 16-bit little-endian window-size increment: the host may send that many bytes,
  and another window's worth each time the board sends ``\\x01``; a ``\\x04`` from the board means
  stop sending. The host ends its code with ``\\x04``, the board acknowledges with ``\\x04`` and
  then answers as in the raw REPL (output, ``\\x04``, errors, ``\\x04``, ``>``). ``R\\x00`` means
  the board understood but refuses raw-paste; anything else comes from firmware too old to know
  it. Either way the host falls back to the plain raw REPL.

``RawRepl`` needs only ``read(n)`` (returning what arrived within the link's timeout),
``write(data)``, ``in_waiting`` and ``reset_input_buffer()``: a pyserial ``Serial`` has them.
Output is handed to a callback as it arrives, so a kernel can stream it.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from typing import Any

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
SOFT_REBOOT = b"soft reboot\r\n"
_PLAIN_CHUNK = 256  # the plain raw REPL has no flow control: small chunks, short pauses

Output = Callable[[str], None]


class ReplError(Exception):
    """The board did not answer as the protocol says it should."""


class ReplTimeout(ReplError):
    """Nothing (or not enough) arrived in time."""


class RawRepl:
    def __init__(self, link: Any, *, timeout: float = 10.0) -> None:
        self.link = link
        self.timeout = timeout
        self.raw_paste: bool | None = None  # None: not tried yet on this connection
        self.in_raw = False
        self._collecting: dict[str, Any] | None = None  # while a cell's output comes in
        self._ahead = b""  # read from the link but not consumed yet

    # -- reading -------------------------------------------------------------------------------

    def _read_some(self) -> bytes:
        """What was read ahead, else one byte (waiting up to the link's timeout) and whatever
        else has arrived."""
        if self._ahead:
            chunk, self._ahead = self._ahead, b""
            return chunk
        chunk = self.link.read(1)
        if chunk and self.link.in_waiting:
            chunk += self.link.read(self.link.in_waiting)
        return chunk

    def _unread(self, data: bytes) -> None:
        self._ahead = data + self._ahead

    def read_until(self, ending: bytes, timeout: float) -> bytes:
        """Bytes up to and including ``ending``; ``ReplTimeout`` when the board goes quiet
        for ``timeout`` seconds before it."""
        data = b""
        quiet_since = time.monotonic()
        while ending not in data:
            chunk = self._read_some()
            if chunk:
                data += chunk
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > timeout:
                raise ReplTimeout(f"waited {timeout:g} s for {ending!r}; got {data[-80:]!r}")
        end = data.index(ending) + len(ending)
        self._unread(data[end:])
        return data[:end]

    def _read_exactly(self, n: int, timeout: float) -> bytes:
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < n:
            data += self._read_some()
            if len(data) < n and time.monotonic() > deadline:
                raise ReplTimeout(f"waited {timeout:g} s for {n} bytes; got {data!r}")
        self._unread(data[n:])
        return data[:n]

    def drain(self, quiet: float = 0.2, limit: float = 3.0) -> bytes:
        """Whatever the board is still sending, until it has been quiet for ``quiet`` seconds
        (or ``limit`` seconds have passed: a board may never stop talking)."""
        data, self._ahead = self._ahead, b""
        start = last = time.monotonic()
        while time.monotonic() - last < quiet and time.monotonic() - start < limit:
            n = self.link.in_waiting
            if n:
                data += self.link.read(n)
                last = time.monotonic()
            else:
                time.sleep(0.02)
        return data

    # -- modes ---------------------------------------------------------------------------------

    def enter_raw(self, *, attempts: int = 3, on_stopped: Output | None = None) -> None:
        """Stop whatever runs (``main.py``) and enter the raw REPL, retrying a few times."""
        last: Exception | None = None
        for _ in range(attempts):
            self.link.write(b"\r" + CTRL_C)
            time.sleep(0.1)
            self.link.write(CTRL_C)
            stopped = self.drain()
            if on_stopped and stopped.strip():
                on_stopped(stopped.decode(errors="replace"))
            self.link.write(b"\r" + CTRL_A)
            try:
                self.read_until(RAW_PROMPT, self.timeout)
            except ReplTimeout as e:
                last = e
                continue
            self.in_raw = True
            return
        raise ReplTimeout(str(last))

    def exit_raw(self) -> None:
        self.link.write(b"\r" + CTRL_B)
        self.in_raw = False

    def soft_reset(self) -> str:
        """Ctrl-D on an empty raw REPL: the board restarts its interpreter (and stays raw)."""
        if not self.in_raw:
            self.enter_raw()
        self.link.write(CTRL_D)
        said = self.read_until(SOFT_REBOOT, self.timeout)
        said += self.read_until(RAW_PROMPT, self.timeout)
        self.raw_paste = None
        return said.decode(errors="replace")

    # -- running code --------------------------------------------------------------------------

    def exec(self, code: str | bytes, out: Output, *, timeout: float | None = None) -> str:
        """Run ``code``; its output goes to ``out`` as it arrives; returns the error output.

        ``timeout`` bounds how long the board may stay silent while the code runs (None: for
        ever, for cells that wait on hardware).
        """
        if not self.in_raw:
            self.enter_raw()
        data = code.encode() if isinstance(code, str) else code
        self._collecting = None
        if self.raw_paste is not False and self._try_raw_paste():
            self._send_raw_paste(data)
        else:
            self._send_plain(data)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._collecting = {"section": 0, "errors": b"", "decoder": decoder}
        return self._collect(out, timeout)

    def _try_raw_paste(self) -> bool:
        self.link.write(CTRL_E + b"A" + CTRL_A)
        answer = self._read_exactly(2, self.timeout)
        if answer == b"R\x01":
            self.raw_paste = True
            return True
        if answer == b"R\x00":
            self.raw_paste = False
            return False
        # Firmware that does not know raw-paste took Ctrl-A as "enter raw REPL" again.
        self.read_until(RAW_PROMPT[2:], self.timeout)
        self.raw_paste = False
        return False

    def _send_raw_paste(self, data: bytes) -> None:
        increment = int.from_bytes(self._read_exactly(2, self.timeout), "little")
        window = increment
        sent = 0
        while sent < len(data):
            # Take every flow-control byte already here; wait for one when the window is spent.
            while window == 0 or self._ahead or self.link.in_waiting:
                b = self._read_exactly(1, self.timeout)
                if b == b"\x01":
                    window += increment
                elif b == CTRL_D:  # the board wants no more (e.g. it hit a syntax error)
                    self.link.write(CTRL_D)
                    return
                else:
                    raise ReplError(f"unexpected {b!r} during raw-paste")
            chunk = data[sent : sent + window]
            self.link.write(chunk)
            sent += len(chunk)
            window -= len(chunk)
        self.link.write(CTRL_D)
        self.read_until(CTRL_D, self.timeout)  # the board's acknowledgement

    def _send_plain(self, data: bytes) -> None:
        for i in range(0, len(data), _PLAIN_CHUNK):
            self.link.write(data[i : i + _PLAIN_CHUNK])
            time.sleep(0.01)
        self.link.write(CTRL_D)
        ok = self._read_exactly(2, self.timeout)
        if ok != b"OK":
            rest = self.drain()
            raise ReplError(f"the board did not accept the code: {(ok + rest)[-200:]!r}")

    def _collect(self, out: Output, timeout: float | None) -> str:
        """Output until the first Ctrl-D, errors until the second, then the prompt.

        The state lives on the instance, so that after an interrupt (a KeyboardInterrupt raised
        in the middle of this) ``stop`` can go on collecting where this left off.
        """
        state = self._collecting
        assert state is not None
        quiet_since = time.monotonic()
        while True:
            chunk = self._read_some()
            if not chunk:
                if timeout is not None and time.monotonic() - quiet_since > timeout:
                    raise ReplTimeout(f"the board said nothing for {timeout:g} s")
                continue
            quiet_since = time.monotonic()
            while chunk:
                if state["section"] == 2:
                    if b">" in chunk:
                        self._collecting = None
                        return state["errors"].decode(errors="replace")
                    break
                head, sep, chunk = chunk.partition(CTRL_D)
                if state["section"] == 0:
                    out(state["decoder"].decode(head, final=bool(sep)))
                else:
                    state["errors"] += head
                if sep:
                    state["section"] += 1

    def stop(self, out: Output, *, timeout: float = 5.0) -> str:
        """After an interrupt: Ctrl-C to the board, then the rest of what it says (its
        ``KeyboardInterrupt``); back in the raw REPL either way."""
        self.link.write(CTRL_C)
        if self._collecting is None:  # interrupted while sending: start the REPL afresh
            self.drain()
            self.enter_raw()
            return ""
        try:
            return self._collect(out, timeout)
        except ReplTimeout:
            self._collecting = None
            raise
