"""Readers (and round-trip writers) for the files people already keep: one ``Manifest`` class
per format (``base``), found through entry points (``formats``)."""
