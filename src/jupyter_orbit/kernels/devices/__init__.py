"""Devices as kernels: a small SDK and the device kernels on the kernel menu.

- ``devicekernel``: ``DeviceKernel``, a base class on ipykernel's ``Kernel`` for kernels whose cells
  go to a device (a board, an instrument) rather than to an interpreter.
- ``rawrepl`` and ``micropython``: a MicroPython / CircuitPython board over serial.
- ``scpi``: an instrument (oscilloscope, multimeter) through PyVISA.
- ``recipes``: their kernel recipes (entry point group ``jupyter_orbit.kernel_recipes``).

This ``__init__`` imports nothing: a device kernel runs in an environment that holds ipykernel and
its device library, with only Orbit's package folder importable (``devicekernel.bootstrap_argv``).
What this machine has and what a notebook needs are core facts, in ``jupyter_orbit.hardware``.
"""
