"""Icon containers made from the one PNG Orbit ships (Windows and macOS both accept PNG data
inside their own formats, so no image library is needed)."""

from __future__ import annotations

import struct


def png_size(png: bytes) -> tuple[int, int]:
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", png[16:24])


def ico_from_png(png: bytes) -> bytes:
    """A Windows .ico holding one PNG image (up to 256×256; 0 in the header means 256)."""
    width, height = png_size(png)
    if width > 256 or height > 256:
        raise ValueError("an .ico image is at most 256×256")
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


_ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def icns_from_png(png: bytes) -> bytes:
    """A macOS .icns holding one PNG image of a size macOS knows."""
    width, height = png_size(png)
    if width != height or width not in _ICNS_TYPES:
        raise ValueError(f"an .icns image is square, one of {sorted(_ICNS_TYPES)} pixels")
    chunk = _ICNS_TYPES[width] + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(chunk)) + chunk
