#!/usr/bin/env python3
"""Draws the Teams app icons into manifest/: color.png (192x192, full colour) and
outline.png (32x32, white on transparent), as the Teams manifest requires. Standard library only.

    python3 scripts/icons.py
"""
import os
import struct
import zlib

ACCENT = (0x3A, 0x5F, 0xCD, 0xFF)
WHITE = (0xFF, 0xFF, 0xFF, 0xFF)
CLEAR = (0, 0, 0, 0)


def png(path, size, pixel):
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size)
    )

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(rows, 9))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def bubble(x, y, s, stroke):
    """A speech bubble (rounded box with a tail) in an s x s square: 'in', 'edge' or None."""
    left, right, top, bottom, r = 0.18 * s, 0.82 * s, 0.2 * s, 0.68 * s, 0.1 * s
    cx = min(max(x, left + r), right - r)
    cy = min(max(y, top + r), bottom - r)
    d = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    in_box = left <= x <= right and top <= y <= bottom and d <= r
    # the tail, below the box on the left
    in_tail = bottom <= y <= 0.84 * s and 0.3 * s <= x <= 0.3 * s + (0.84 * s - y) * 0.9
    if not (in_box or in_tail):
        return None
    if in_tail and not in_box:
        return "in"
    edge = r - d < stroke or x - left < stroke or right - x < stroke
    edge = edge or y - top < stroke or (bottom - y < stroke and not 0.3 * s <= x <= 0.45 * s)
    return "edge" if edge else "in"


def color(x, y):
    part = bubble(x + 0.5, y + 0.5, 192, 0)
    if part:
        # three dots: a chat being typed
        for cx in (0.36, 0.5, 0.64):
            if ((x - cx * 192) ** 2 + (y - 0.44 * 192) ** 2) <= 10 ** 2:
                return ACCENT
        return WHITE
    return ACCENT


def outline(x, y):
    part = bubble(x + 0.5, y + 0.5, 32, 1.6)
    return WHITE if part == "edge" else CLEAR


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "manifest")
png(os.path.join(here, "color.png"), 192, color)
png(os.path.join(here, "outline.png"), 32, outline)
