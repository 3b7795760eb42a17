"""Run every cell of a notebook in a started kernel (nbclient), reporting as it goes.

Used in two places: by ``orbit run`` directly, and inside the profile's server (which holds
prewarmed kernels) when one is running. Either way the caller gets one event per executed cell
and a final event with the executed notebook and, if a cell failed, which one and why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

Emit = Callable[[dict[str, Any]], Awaitable[None]]


def new_kernel_manager(argv: list[str], language: str, name: str = "orbit") -> AsyncKernelManager:
    """A kernel manager that starts ``argv`` (no kernelspec on disk involved)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class OneSpec(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(argv=argv, display_name=name, language=language)

    return AsyncKernelManager(kernel_name=name, kernel_spec_manager=OneSpec())


async def start_kernel(
    argv: list[str],
    language: str,
    cwd: Path,
    session: str,
    log: IO[bytes] | int | None = None,
    extra_env: dict[str, str] | None = None,
) -> AsyncKernelManager:
    """Start a kernel; its own output (not cells') goes to ``log`` (a file or a file
    descriptor) when given."""
    km = new_kernel_manager(argv, language)
    env = {**os.environ, **(extra_env or {})}
    if session:
        env["JPY_SESSION_NAME"] = session
    await km.start_kernel(cwd=str(cwd), env=env, stdout=log, stderr=log)
    return km


async def execute(
    nb_json: dict[str, Any],
    *,
    km: AsyncKernelManager,
    kc: AsyncKernelClient | None = None,
    cwd: Path,
    timeout: int | None,
    emit: Emit,
) -> dict[str, Any]:
    """Execute ``nb_json`` in ``km``'s kernel; return the final event (also emitted).

    ``kc``, when given, is a client already connected to that kernel.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # reads() also joins multi-line sources and upgrades v4.x minor versions, as nbclient expects
    nb = nbformat.reads(json.dumps(nb_json), as_version=4)
    failed: dict[str, Any] = {}

    async def on_start(cell: Any, cell_index: int) -> None:
        failed["cell"] = cell_index  # so a timeout or a dead kernel can name its cell

    async def on_executed(cell: Any, cell_index: int, execute_reply: dict) -> None:
        await emit({"cell": cell_index, "outputs": cell.get("outputs", [])})

    async def on_error(cell: Any, cell_index: int, execute_reply: dict) -> None:
        content = execute_reply.get("content", {})
        failed.update(
            cell=cell_index,
            ename=content.get("ename", ""),
            evalue=content.get("evalue", ""),
            traceback=content.get("traceback", []),
        )

    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        startup_timeout=120,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(cwd)}},
        on_cell_start=on_start,
        on_cell_executed=on_executed,
        on_cell_error=on_error,
    )
    own_kc = kc is None
    if kc is None:  # the ready handshake, here: a kernel that exits at start is told as such
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=120)
        except RuntimeError as e:
            kc.stop_channels()
            code = await km.provisioner.poll() if km.provisioner is not None else None
            evalue = str(e)  # it did not answer in time
            if code is not None:
                how = f"exit code {code}" if code >= 0 else f"signal {-code}"
                evalue = f"the kernel exited as it started ({how})"
            final = {"done": True, "ok": False, "ename": "KernelDied", "evalue": evalue}
            final["notebook"] = nb
            await emit(final)
            return final
    client.kc = kc  # connected and subscribed already: nbclient skips the ready handshake
    final: dict[str, Any] = {"done": True, "ok": True}
    try:
        await client.async_execute()
    except CellExecutionError:
        final.update(ok=False, **failed)
    except CellTimeoutError as e:
        final.update(ok=False, ename="Timeout", evalue=str(e).splitlines()[0], **_cell(failed))
    except DeadKernelError as e:
        final.update(ok=False, ename="DeadKernel", evalue=str(e), **_cell(failed))
    finally:
        if own_kc:
            kc.stop_channels()
    final["notebook"] = nb
    await emit(final)
    return final


def _cell(failed: dict[str, Any]) -> dict[str, Any]:
    return {"cell": failed["cell"]} if "cell" in failed else {}
