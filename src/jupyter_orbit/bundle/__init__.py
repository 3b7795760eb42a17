"""Offline bundles: one verified archive carrying packages of every ecosystem, and local
registry servers that stand in for the public ones on a machine with no network.

- ``archive``: the file format (a reproducible tar.gz with a hashed ``manifest.json``), writing
  and verified extraction;
- ``store``: bundles installed under ``ORBIT_HOME/bundles`` and several of them layered;
- ``collect``: planning and fetching what goes into a bundle (wheels, npm tarballs, Debian
  packages, container images);
- ``registries``: the stand-in servers (a PEP 503 index, an npm registry, a flat apt repository,
  ``docker load``) started from installed bundles, loopback only;
- ``offline``: turning an installer's "not found" into "not in the bundle".
"""
