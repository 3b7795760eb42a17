"""Jupyter Orbit: every notebook in its own reproducible environment."""

__version__ = "0.1.0"
