"""Run every cell of a notebook in a started kernel (nbclient), reporting as it goes.

Used in two places: by ``orbit run`` directly, and inside the profile's server (which holds
prewarmed kernels) when one is running. Either way the caller gets one event per executed cell
and a final event with the executed notebook and, if a cell failed, which one and why.

The kernel's start is the slow part, so everything around it is kept short: the caller starts
the kernel first and reads the notebook while it boots (``read_notebook``); the kernel is ready
once it answered ``kernel_info`` and its IOPub messages arrive (``wait_ready``: without
jupyter_client's further wait for IOPub to fall silent); it is stopped and its process waited
for (``stop_kernel``: no polling loop); and its provisioner
is made directly, without scanning every installed distribution's entry points.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

Emit = Callable[[dict[str, Any]], Awaitable[None]]
READY_TIMEOUT = 120  # seconds a kernel may take to answer kernel_info
# Seconds to wait, once kernel_info is answered, for that request's status on IOPub. It is
# published before the reply, so it is there already when the subscription was in place; when
# it was not (a kernel that booted before the client connected: the one ``prestart`` started),
# asking again at once costs a round trip instead of a long wait.
IOPUB_GRACE = 0.05


def new_kernel_manager(argv: list[str], language: str, name: str = "orbit") -> AsyncKernelManager:
    """A kernel manager that starts ``argv`` (no kernelspec on disk involved)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class OneSpec(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(argv=argv, display_name=name, language=language)

    km = AsyncKernelManager(kernel_name=name, kernel_spec_manager=OneSpec())
    # The provisioner every kernel here gets, made directly: jupyter_client's factory would
    # first scan the entry points of every installed distribution for provisioners.
    km.kernel_id = km.kernel_id or str(uuid.uuid4())
    km.provisioner = LocalProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    return km


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


class _Adopting(LocalProvisioner):  # type: ignore[misc]
    """Gives its kernel manager a kernel process already started (``prestart.Started``):
    its connection info and process, instead of new ports and a new process."""

    started: Any = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        km.load_connection_info(self.started.info)
        km.connection_file = str(self.started.connection_file)
        self.connection_info = km.get_connection_info()
        return {**kwargs, "cmd": list(self.started.process.args)}

    async def cleanup(self, restart: bool = False) -> None:
        self.started.connection_file.unlink(missing_ok=True)  # written by prestart, not km
        await super().cleanup(restart)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict[str, Any]:
        process = self.started.process
        self.process, self.pid, self.pgid = process, process.pid, os.getpgid(process.pid)
        self.cwd = kwargs.get("cwd")
        self.started.adopted = True
        return self.connection_info


def adopting_manager(started: Any, language: str) -> AsyncKernelManager:
    """A kernel manager for a kernel ``prestart.start`` started: its ``start_kernel`` takes
    that kernel over, and it stops and cleans it up as one it started itself."""
    km = new_kernel_manager(list(started.command.argv), language)
    km.provisioner = _Adopting(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    km.provisioner.started = started
    return km


async def adopt_kernel(started: Any, language: str) -> AsyncKernelManager:
    """``adopting_manager``, with the kernel taken over."""
    km = adopting_manager(started, language)
    await km.start_kernel(cwd=started.command.cwd)
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
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = read_notebook(nb_json)
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
            await wait_ready(km, kc, timeout=READY_TIMEOUT)
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


def read_notebook(nb_json: dict[str, Any]) -> Any:
    """``nb_json`` as the notebook node nbclient runs, checked against the notebook schema.

    nbformat's reader joins multi-line sources and upgrades v4.x minor versions; its check uses
    the schema's structure only (fastjsonschema when installed; no format checkers). A v4.5
    notebook whose cells lack ids (some tools write them) gets ids in memory, without
    nbformat's warning to "normalize" it: running a notebook changes nothing in its file.
    """
    import warnings

    import nbformat
    from nbformat.validator import MissingIDFieldWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        return nbformat.reads(json.dumps(nb_json), as_version=4)


async def wait_ready(km: AsyncKernelManager, kc: AsyncKernelClient, timeout: float) -> dict:
    """Until the kernel answers ``kernel_info`` with its IOPub channel connected; return the reply.

    jupyter_client's ``wait_for_ready`` then also waits for IOPub to stay silent for 0.2 s;
    that is not needed here, as nbclient takes each cell's messages by their parent.
    Raises ``RuntimeError`` when the kernel dies or does not answer within ``timeout`` seconds.
    """
    from queue import Empty

    give_up = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            reply = await kc.get_shell_msg(timeout=1)
        except Empty:
            pass
        else:
            if reply["msg_type"] == "kernel_info_reply":
                try:  # a message on IOPub (its "busy" for this request): subscribed in time
                    await kc.get_iopub_msg(timeout=IOPUB_GRACE)
                except Empty:
                    pass  # not subscribed yet when the kernel published: ask again
                else:
                    return reply
        if not await km.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > give_up:
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


async def stop_kernel(km: AsyncKernelManager, grace: float = 0.0) -> int | None:
    """Stop the kernel and wait for its process to end; then jupyter_client cleans up.

    With ``grace``, the kernel is first asked to shut down and given that many seconds;
    what is left is killed (its process group, as jupyter_client does). The process is waited
    for, not polled: jupyter_client's own ``shutdown_kernel`` checks every 0.1 s whether it is
    gone. Returns the process's exit code, if it had one.
    """
    process = getattr(km.provisioner, "process", None)  # a local kernel's Popen
    if isinstance(process, subprocess.Popen):
        if grace > 0 and process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError, RuntimeError):
                await km.request_shutdown()
                await asyncio.to_thread(process.wait, grace)
        if process.poll() is None:
            assert km.provisioner is not None
            await km.provisioner.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, 5)
    code = process.returncode if isinstance(process, subprocess.Popen) else None
    if km.has_kernel:  # a process that ended is only cleaned up after (no polling loop)
        await km.shutdown_kernel(now=True)
    return code
