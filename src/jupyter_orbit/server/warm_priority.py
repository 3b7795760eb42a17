"""Prewarmed kernels boot at low priority, and get the server's own back when handed out.

A prewarm is a guess about the future; a kernel someone is waiting for is the present. So a
pool kernel's processes run niced (CPU) and in the idle I/O class while they start and import,
and go back to the server's own priority when a notebook takes them.

Lowering a priority is always allowed; raising it back is not for every user (Linux lets an
unprivileged process lower its nice value only down to ``20 - RLIMIT_NICE``). The CPU priority is
lowered only where it can be restored, so a handed-over kernel never stays slow; the I/O class
can always be restored by its owner.
"""

from __future__ import annotations

import os

import psutil

NICE_STEP = 10  # how much nicer than the server a booting prewarm is


def _can_restore_nice(base: int) -> bool:
    if os.geteuid() == 0:
        return True
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    except (ImportError, AttributeError, OSError, ValueError):
        return False
    return soft == resource.RLIM_INFINITY or base >= 20 - soft


def _tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


class Priority:
    """Lowers and restores the priority of process trees (one instance per pool)."""

    def __init__(self) -> None:
        self.base = os.getpriority(os.PRIO_PROCESS, 0)
        self.nice = _can_restore_nice(self.base)
        self.io = hasattr(psutil.Process, "ionice") and hasattr(psutil, "IOPRIO_CLASS_IDLE")

    def lower(self, pid: int) -> None:
        for proc in _tree(pid):
            try:
                if self.nice:
                    proc.nice(min(19, self.base + NICE_STEP))
                if self.io:
                    proc.ionice(psutil.IOPRIO_CLASS_IDLE)
            except psutil.Error:
                pass

    def restore(self, pid: int) -> None:
        for proc in _tree(pid):
            try:
                if self.nice:
                    proc.nice(self.base)
                if self.io:
                    proc.ionice(psutil.IOPRIO_CLASS_NONE)
            except psutil.AccessDenied:
                self.nice = False  # this machine does not let us: stop lowering from now on
            except psutil.Error:
                pass
