"""Readers for the files people already keep, and the precedence that combines them."""

from jupyter_orbit.manifests.resolve import find_project_root, resolve

__all__ = ["find_project_root", "resolve"]
