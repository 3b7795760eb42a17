"""Making bundles: what each target needs, taken from the one pipeline (``build``), and the
installer that needs no network (``installer``). The format, the installed bundles and the
stand-in registries are ``jupyter_orbit.bundle``'s."""
