"""The profile's Jupyter server: its application, Orbit's server extension and REST API, the
kernel provisioner, the warm-kernel pool and the launcher."""


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from jupyter_orbit.server.extension import OrbitExtension

    return [{"module": "jupyter_orbit.server.extension", "app": OrbitExtension}]
