from jupyter_orbit._imports import skip_unused

skip_unused()

from jupyter_orbit.server.app import main  # noqa: E402

main()
