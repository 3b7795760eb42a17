"""asyncssh, imported on first use (it is the optional ``remote`` extra)."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Coroutine
from types import ModuleType
from typing import Any, TypeVar

from jupyter_orbit.errors import OrbitError

T = TypeVar("T")


def asyncssh() -> ModuleType:
    try:
        with warnings.catch_warnings():  # cryptography's notices about DSA, which Orbit never uses
            warnings.simplefilter("ignore")
            import asyncssh as lib
    except ImportError:
        raise OrbitError(
            "remote hosts need the asyncssh package, which is not installed",
            "install Orbit with its remote extra: pip install 'jupyter-orbit[remote]' "
            "(or `uv tool install 'jupyter-orbit[remote]'`)",
        ) from None
    return lib


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even on a thread with a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as e:
            result["error"] = e

    t = threading.Thread(target=work, name="orbit-remote")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
