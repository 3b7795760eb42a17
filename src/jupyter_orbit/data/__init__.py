"""Data sets a notebook declares (``metadata.orbit.data``): read and checked (``spec``),
fetched with pooch, verified and stored by content under ``ORBIT_HOME/data`` (``store``), and
placed into a kernel's working folder (``store.place``)."""
