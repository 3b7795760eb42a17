from jupyter_orbit.cli import main

main()
