"""Hostile inputs replayed by the app's tests: expressions past the caps and a picture whose
header claims 12000x12000 pixels in a few kilobytes (a valid PNG, all black)."""

from __future__ import annotations

import struct
import zlib

TWENTY_THOUSAND_TERMS = " or ".join(["4"] * 20_000)
NESTED_10KB = "(" * 5_000 + "4" + ")" * 5_000
INVALID_100KB = "!" * 100_000
EXPRESSIONS = {"20000 terms": TWENTY_THOUSAND_TERMS, "10 KB nested": NESTED_10KB, "100 KB invalid": INVALID_100KB}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def blank_png(width: int = 12_000, height: int = 12_000) -> bytes:
    """A valid greyscale PNG of ``width`` x ``height`` zeros (about 140 KB for 12000x12000),
    compressed row by row so that it never holds the pixels in memory."""
    z = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
