"""Hardware as facts: what this machine has, what a notebook declares, and what follows.

- ``detect``: GPUs, serial ports, VISA instruments and cameras, each with what it takes to use it.
- ``needs``: a notebook's ``metadata.orbit.hardware``, matched against detection and turned into
  container device options, hub settings, Kubernetes limits and a device kernel's variables.
- ``accelerator``: the profile's ``[hardware]`` settings and the CUDA, ROCm or CPU build of
  torch and jax they lead to.
- ``fit``: the pipeline's use of all this (``prepare`` calls it).

These are core modules (they import only the standard library and other core modules), so every
floor may use them. The device kernels themselves live in ``jupyter_orbit.kernels.devices``.
This ``__init__`` imports nothing: device kernels import ``detect`` with only Orbit's package
folder importable.
"""
