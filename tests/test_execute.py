"""Running a notebook in a started kernel: ready without the IOPub quiet wait, stopped without
polling. The kernels are real ipykernels (this test environment's own Python)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.asynchronous import AsyncKernelClient

from jupyter_orbit import execute as ex

pytestmark = pytest.mark.integration

IPYKERNEL = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def notebook(*sources: str) -> dict:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": []}
        | {"source": source}
        for i, source in enumerate(sources)
    ]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def no_quiet_wait(monkeypatch) -> None:
    """jupyter_client's ready handshake (with its wait for IOPub to fall silent) must not run."""

    async def refused(self, timeout=None):
        raise AssertionError("wait_for_ready was called")

    monkeypatch.setattr(AsyncKernelClient, "wait_for_ready", refused)


def test_a_notebook_runs_without_the_iopub_quiet_wait(tmp_path: Path, monkeypatch):
    no_quiet_wait(monkeypatch)
    events: list[dict] = []

    async def emit(event: dict) -> None:
        events.append(event)

    async def run() -> dict:
        km = await ex.start_kernel(IPYKERNEL, "python", tmp_path, "nb.ipynb")
        try:
            return await ex.execute(
                notebook("x = 6 * 7", "print(x)"), km=km, cwd=tmp_path, timeout=60, emit=emit
            )
        finally:
            await ex.stop_kernel(km)

    final = asyncio.run(run())
    assert final["ok"], final
    # every output arrived although nothing waited for IOPub to be quiet
    assert [e["cell"] for e in events if "cell" in e] == [0, 1]
    assert events[1]["outputs"][0]["text"] == "42\n"
    assert final["notebook"]["cells"][1]["outputs"][0]["text"] == "42\n"


def test_the_provisioner_is_made_without_scanning_entry_points(monkeypatch):
    from jupyter_client.provisioning.factory import KernelProvisionerFactory

    def refused(*args, **kwargs):
        raise AssertionError("the provisioners' entry points were scanned")

    monkeypatch.setattr(KernelProvisionerFactory, "_get_all_provisioners", staticmethod(refused))
    km = ex.new_kernel_manager(IPYKERNEL, "python")
    assert type(km.provisioner).__name__ == "LocalProvisioner"
    assert km.provisioner.kernel_id == km.kernel_id


@pytest.mark.parametrize("grace", [0.0, 30.0])
def test_a_kernel_is_stopped_without_a_polling_sleep(tmp_path: Path, monkeypatch, grace: float):
    sleeps: list[float] = []

    async def run() -> tuple[int | None, subprocess.Popen]:
        km = await ex.start_kernel(IPYKERNEL, "python", tmp_path, "")
        kc = km.client()
        kc.start_channels()
        await ex.wait_ready(km, kc, timeout=60)
        kc.stop_channels()
        process = km.provisioner.process
        real_sleep = asyncio.sleep

        async def counted(delay, *args):
            sleeps.append(delay)
            return await real_sleep(delay, *args)

        monkeypatch.setattr(asyncio, "sleep", counted)
        code = await ex.stop_kernel(km, grace=grace)
        monkeypatch.setattr(asyncio, "sleep", real_sleep)
        assert not km.has_kernel
        return code, process

    code, process = asyncio.run(run())
    assert code == process.returncode
    if grace:
        assert code == 0  # asked first, it shut down on request
    else:
        assert code is not None and code < 0  # killed at once, as jupyter_client's now=True does
    # no polling loop (0.1 s a turn) waited for it; jupyter_client's one 10 ms pause in
    # shutdown_kernel (its "pending state" decorator) is not a loop
    assert all(delay < 0.1 for delay in sleeps) and len(sleeps) <= 1, sleeps


def test_a_kernel_that_ignores_the_request_is_killed_after_the_grace(tmp_path: Path):
    deaf = [sys.executable, "-c", "import time; time.sleep(60)"]  # no kernel: nothing answers

    async def run() -> tuple[int | None, subprocess.Popen]:
        km = await ex.start_kernel(deaf, "python", tmp_path, "")
        process = km.provisioner.process
        code = await ex.stop_kernel(km, grace=0.5)
        return code, process

    code, process = asyncio.run(run())
    assert code == process.returncode and code is not None and code < 0  # killed after it


def test_a_kernel_that_exits_as_it_starts_is_told_as_such(tmp_path: Path):
    events: list[dict] = []

    async def emit(event: dict) -> None:
        events.append(event)

    async def run() -> dict:
        km = await ex.start_kernel(
            [sys.executable, "-c", "raise SystemExit(3)"], "python", tmp_path, ""
        )
        try:
            return await ex.execute(notebook("1"), km=km, cwd=tmp_path, timeout=60, emit=emit)
        finally:
            await ex.stop_kernel(km)

    final = asyncio.run(run())
    assert final["ename"] == "KernelDied" and "exit code 3" in final["evalue"]
    assert events == [final]


def test_cells_without_ids_are_read_quietly():
    """A v4.5 notebook whose cells lack ids (some tools write them) runs without nbformat's
    warning; the ids exist in memory only."""
    import warnings

    nb = notebook("1", "2")
    for cell in nb["cells"]:
        del cell["id"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        node = ex.read_notebook(nb)
    assert [c.source for c in node.cells] == ["1", "2"]
    assert all(c.get("id") for c in node.cells)
    assert "id" not in nb["cells"][0]  # the caller's dict is as it was
