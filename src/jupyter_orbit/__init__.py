"""Jupyter Orbit: every notebook in its own reproducible environment."""

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    from jupyter_orbit.server.extension import OrbitExtension

    return [{"module": "jupyter_orbit.server.extension", "app": OrbitExtension}]
