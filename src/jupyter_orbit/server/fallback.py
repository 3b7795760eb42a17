"""The kernel that starts when a notebook's environment cannot be built, or its kernel exits as
it starts.

Rather than a dead kernel and a generic dialog, the notebook gets a kernel that answers every
cell with what went wrong and how to fix it. It runs from the server's environment and is given
the error through ``ORBIT_KERNEL_ERROR`` (JSON with ``error`` and ``hint``, and the dead
kernel's last lines on stderr as ``stderr``).
"""

from __future__ import annotations

import json
import os
import sys

from ipykernel.kernelbase import Kernel

ENV_VAR = "ORBIT_KERNEL_ERROR"


def _problem() -> dict:
    try:
        return json.loads(os.environ.get(ENV_VAR, "{}"))
    except ValueError:
        return {"error": os.environ.get(ENV_VAR, "unknown error")}


def explain(problem: dict) -> str:
    died = problem.get("kind") == "KernelDied"
    lines = [
        "This notebook's kernel could not start:"
        if died
        else "Orbit could not prepare this notebook's environment:",
        "",
        f"  {problem.get('error')}",
    ]
    if problem.get("path"):
        where = problem["path"] + (f":{problem['line']}" if problem.get("line") else "")
        lines += ["", f"  in {where}"]
    if problem.get("stderr"):
        lines += ["", "Its last lines on stderr:", ""]
        lines += [f"  {line}" for line in problem["stderr"]]
    if problem.get("hint"):
        lines += ["", f"Fix: {problem['hint']}"]
    lines += ["", "Then restart the kernel (Kernel > Restart Kernel)."]
    return "\n".join(lines) + "\n"


class ExplainKernel(Kernel):
    implementation = "orbit-explain"
    implementation_version = "1"
    language_info = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py"}  # noqa: RUF012
    banner = "Orbit: this notebook's environment could not be built"

    async def do_execute(  # type: ignore[override]
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool = False,
        **kwargs: object,
    ) -> dict:
        problem = _problem()
        if not silent:
            self.send_response(
                self.iopub_socket, "stream", {"name": "stderr", "text": explain(problem)}
            )
        return {
            "status": "error",
            "execution_count": self.execution_count,
            "ename": "OrbitEnvironmentError",
            "evalue": str(problem.get("error")),
            "traceback": [],
        }


def argv() -> list[str]:
    # Isolated (-I): it starts in the notebook's folder, whose files must not be imported.
    return [sys.executable, "-I", "-m", "jupyter_orbit.server.fallback", "-f", "{connection_file}"]


if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=ExplainKernel)
