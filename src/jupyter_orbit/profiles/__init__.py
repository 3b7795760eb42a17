"""Profiles: isolated Jupyter installations, each with its own settings, server environment
(a pinned JupyterLab plus chosen extensions), kernelspecs, JupyterLab settings and workspaces,
browser data and defaults. One folder per profile under ``$ORBIT_HOME/profiles/``.

- ``settings``    the profile's ``profile.toml`` (read, checked, edited round-trip)
- ``store``       create, clone, remove, list, and the default profile
- ``server_env``  the server environment: its spec, building it, how the server is launched
- ``extensions``  which packages are JupyterLab extensions; adding and removing them safely
- ``catalog``     finding prebuilt extensions on PyPI
- ``traits``      checking ``Class.trait`` settings against the classes they configure
- ``config``      the profile's ``jupyter_server_config.json``
- ``archive``     export to one file, import from one
"""
