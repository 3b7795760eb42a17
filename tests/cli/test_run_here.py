"""``orbit run`` without a server: the kernel starts first, the notebook is read and checked while
it boots, and it is stopped on request. A real ipykernel (this test environment's Python)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from jupyter_orbit import execute
from jupyter_orbit.cli import _run
from jupyter_orbit.prestart import KernelCommand

pytestmark = pytest.mark.integration


def test_the_kernel_starts_before_the_notebook_is_read_and_checked(tmp_path: Path, monkeypatch):
    order: list[str] = []
    nb = tmp_path / "nb.ipynb"
    cell = {"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": []}
    nb.write_text(
        json.dumps(
            {
                "cells": [cell | {"source": "print('hi')"}],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )

    def recorded(name: str, real):
        if asyncio.iscoroutinefunction(real):

            async def wrapper(*args, **kwargs):
                order.append(name)
                return await real(*args, **kwargs)
        else:

            def wrapper(*args, **kwargs):
                order.append(name)
                return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(execute, "start_kernel", recorded("start", execute.start_kernel))
    monkeypatch.setattr(_run, "_read_json", recorded("read", _run._read_json))
    monkeypatch.setattr(execute, "read_notebook", recorded("check", execute.read_notebook))
    monkeypatch.setattr(execute, "stop_kernel", recorded("stop", execute.stop_kernel))
    kernel = KernelCommand.of(
        [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "python",
        {},
        tmp_path,
        str(nb),
    )
    final, nb_json = asyncio.run(_run._run_here(nb, kernel, tmp_path / "logs", 60))
    assert final["ok"], final
    assert order == ["start", "read", "check", "stop"]
    assert nb_json["cells"][0]["source"] == "print('hi')"
    assert (tmp_path / "logs" / "run.log").exists()  # the kernel's own messages went there
