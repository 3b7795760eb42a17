"""How much memory the warm-kernel pool may hold, and how much it holds.

The budget is a profile setting (``pool_memory_mb`` in ``profile.toml``); without one it is
sized from this machine's RAM. A warm kernel's cost is the resident memory of its process tree.
The machine is under memory pressure when little of its memory is available: the pool then
gives back what it holds, whatever the budget.
"""

from __future__ import annotations

import contextlib

import psutil

MIB = 1 << 20
# Without a setting: 1/32 of the RAM (768 MiB on 24 GiB: a warm kernel with pandas, ~120 MiB,
# for each of the recently used environments; 256 MiB on 8 GiB), within these bounds. A smaller
# budget keeps an idle server nearer a plain JupyterLab, but then environments with pandas are
# never warm and open at a kernel's full start.
DEFAULT_SHARE = 32
DEFAULT_MIN_MB, DEFAULT_MAX_MB = 256, 2048
# Under pressure below this much available memory: 5% of the RAM, at least 256 MiB.
PRESSURE_SHARE, PRESSURE_MIN_MB = 20, 256


def default_budget_mb(total: int | None = None) -> int:
    total = psutil.virtual_memory().total if total is None else total
    return max(DEFAULT_MIN_MB, min(DEFAULT_MAX_MB, total // DEFAULT_SHARE // MIB))


def rss(pid: int) -> int:
    """The resident memory of ``pid`` and its descendants, in bytes (0 if gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def under_pressure() -> bool:
    vm = psutil.virtual_memory()
    return vm.available < max(PRESSURE_MIN_MB * MIB, vm.total // PRESSURE_SHARE)
