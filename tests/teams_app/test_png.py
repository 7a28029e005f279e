"""The PNG reader must read what image editors write (all five row filters, palettes, gray)."""

from __future__ import annotations

import struct
import zlib

import pytest

from bot.teams_app import png


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered(rows: list[bytes], bpp: int, ftype: int) -> bytes:
    out = bytearray()
    prev = bytes(len(rows[0]))
    for row in rows:
        line = bytearray()
        for i, value in enumerate(row):
            left = row[i - bpp] if i >= bpp else 0
            up = prev[i]
            up_left = prev[i - bpp] if i >= bpp else 0
            predictor = [0, left, up, (left + up) >> 1, _paeth(left, up, up_left)][ftype]
            line.append((value - predictor) & 0xFF)
        out += bytes([ftype]) + line
        prev = row
    return bytes(out)


def _png(width, height, color_type, depth, raw, extra=b""):
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (
        png.SIGNATURE
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


PIXELS = [
    [((x * 37 + y * 11) % 256, (x * 5) % 256, (y * 90) % 256, (x * y * 7) % 256) for x in range(7)]
    for y in range(5)
]


@pytest.mark.parametrize("ftype", [0, 1, 2, 3, 4])
def test_every_row_filter_decodes_to_the_same_pixels(ftype):
    rows = [b"".join(bytes(p) for p in row) for row in PIXELS]
    image = png.decode(_png(7, 5, 6, 8, _filtered(rows, 4, ftype)))
    assert [list(r) for r in image.pixels] == PIXELS
    assert image.has_alpha


def test_encoder_round_trip_and_size():
    data = png.encode_rgba(7, 5, PIXELS)
    assert png.read_size(data) == (7, 5)
    assert [list(r) for r in png.decode(data).pixels] == PIXELS


def test_palette_with_transparency_and_rgb_without():
    palette = b"\xff\xff\xff\x00\x00\x00"
    # 2-bit palette indices, 3 pixels per row: 0, 1, 0
    raw = b"\x00" + bytes([0b00010000])
    chunks = _chunk(b"PLTE", palette) + _chunk(b"tRNS", b"\x00")
    image = png.decode(_png(3, 1, 3, 2, raw, extra=chunks))
    assert image.pixels[0] == ((255, 255, 255, 0), (0, 0, 0, 255), (255, 255, 255, 0))
    assert image.has_alpha
    rgb = png.decode(_png(1, 1, 2, 8, b"\x00\x10\x20\x30"))
    assert rgb.pixels[0][0] == (16, 32, 48, 255) and not rgb.has_alpha


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_not_a_png_and_16_bit_are_refused_with_a_reason():
    with pytest.raises(png.PngError, match="not a PNG"):
        png.read_size(b"GIF89a....")
    with pytest.raises(png.PngError, match="8-bit"):
        png.decode(_png(1, 1, 6, 16, b"\x00" + bytes(8)))
