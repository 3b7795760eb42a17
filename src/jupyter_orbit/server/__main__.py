import sys

from jupyter_orbit._imports import skip_unused

skip_unused()

from jupyter_orbit.server import headstart  # noqa: E402

# the kernel of the environment opened last here boots while jupyter_server is imported
headstart.begin(sys.argv[1:])

from jupyter_orbit.server.app import main  # noqa: E402

main()
