"""Hardware: what this machine has, what a notebook needs, and devices as kernels.

- ``detect``: GPUs, serial ports, VISA instruments and cameras, each with what it takes to use it.
- ``needs``: a notebook's ``metadata.orbit.hardware``, matched against detection and turned into
  container device options, hub settings and the choice of CUDA or CPU builds.
- ``devicekernel``: a small base class for kernels that talk to a device; ``micropython`` and
  ``scpi`` are two kernels built on it, and ``recipes`` puts them on the kernel menu.

This package's ``__init__`` imports nothing: device kernels run with only ipykernel and their
device library importable (see ``devicekernel.bootstrap_argv``).
"""
