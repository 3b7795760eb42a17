"""A kernel's stderr: passed on to the server's own, its last lines kept for when it dies.

A kernel that exits as it starts (a broken environment, a package that fails on import, a
missing library) says why on stderr, which used to go only to the server's log. The provisioner
hands the kernel a pipe instead; a thread copies each line to the server's stderr (so the log
is as before) and keeps the last few, which the notebook and ``orbit run`` then show.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from typing import BinaryIO

KEEP = 20  # lines


class StderrTail:
    def __init__(self, keep: int = KEEP, forward: BinaryIO | None = None) -> None:
        read, self.fd = os.pipe()  # self.fd: the writing end, for the kernel's stderr
        self._lines: deque[str] = deque(maxlen=keep)
        self._forward = forward if forward is not None else getattr(sys.stderr, "buffer", None)
        self._thread = threading.Thread(
            target=self._pump, args=(read,), name="orbit-kernel-stderr", daemon=True
        )
        self._thread.start()

    def launched(self) -> None:
        """Close this process's copy of the writing end (once the kernel has its own), so the
        reading end sees the end of the stream when the kernel and its children are gone."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def lines(self, wait: float = 1.0) -> list[str]:
        """The last lines the kernel wrote; waits up to ``wait`` seconds for the rest of the
        stream when the kernel has exited."""
        self._thread.join(wait)
        return list(self._lines)

    def _pump(self, read: int) -> None:
        with os.fdopen(read, "rb") as stream:
            for raw in stream:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\r\n")[:2000])
                if self._forward is not None:
                    try:
                        self._forward.write(raw)
                        self._forward.flush()
                    except (OSError, ValueError):  # the server's stderr is gone: keep the tail
                        self._forward = None
