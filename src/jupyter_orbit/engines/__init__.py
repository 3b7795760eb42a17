"""Engines realise an ``EnvSpec`` and say how to launch a kernel in the result."""

from __future__ import annotations

from jupyter_orbit.engines.base import Engine, get_engine

__all__ = ["Engine", "get_engine"]
