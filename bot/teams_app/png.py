"""A small PNG reader and writer (8-bit, non-interlaced), enough to check and make app icons."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_COLOR_TYPE_NAMES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}

RGBA = tuple[int, int, int, int]


class PngError(ValueError):
    """The bytes are not a PNG this module can read; the message says what is wrong."""


@dataclass(frozen=True)
class PngImage:
    """A decoded image: ``pixels[y][x]`` is an ``(r, g, b, a)`` tuple."""

    width: int
    height: int
    color_type: int
    has_alpha: bool
    pixels: tuple[tuple[RGBA, ...], ...]

    @property
    def color_type_name(self) -> str:
        return _COLOR_TYPE_NAMES.get(self.color_type, str(self.color_type))


def read_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, without decoding the pixels."""
    if not data.startswith(SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        raise PngError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def _chunks(data: bytes):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise PngError("truncated PNG chunk")
        yield kind, body
        pos += 12 + length
        if kind == b"IEND":
            return
    raise PngError("PNG has no IEND chunk (truncated file?)")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int, stride: int) -> list[bytearray]:
    rows: list[bytearray] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        if pos + 1 + stride > len(raw):
            raise PngError("PNG pixel data is shorter than its size says")
        ftype = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
        elif ftype != 0:
            raise PngError(f"unknown PNG filter type {ftype}")
        rows.append(line)
        prev = line
    return rows


def decode(data: bytes) -> PngImage:
    """Decode a PNG of bit depth 8 (or a palette of 1, 2, 4 or 8 bits), not interlaced."""
    width, height = read_size(data)
    header = None
    palette: list[tuple[int, int, int]] = []
    alpha_table = b""
    idat = bytearray()
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [tuple(body[i : i + 3]) for i in range(0, len(body) - 2, 3)]
        elif kind == b"tRNS":
            alpha_table = body
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    _, _, depth, color_type, _, _, interlace = header
    if color_type not in _CHANNELS:
        raise PngError(f"unknown PNG color type {color_type}")
    if interlace:
        raise PngError("interlaced PNG: save it without interlacing")
    if depth != 8 and not (color_type == 3 and depth in (1, 2, 4)):
        raise PngError(f"{depth}-bit PNG: save it as an 8-bit PNG")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise PngError(f"corrupt PNG pixel data ({exc})") from None
    channels = _CHANNELS[color_type]
    bits_per_pixel = channels * depth
    stride = (width * bits_per_pixel + 7) // 8
    rows = _unfilter(raw, width, height, max(1, bits_per_pixel // 8), stride)
    pixels = []
    for line in rows:
        if color_type == 3:
            per_byte = 8 // depth
            indices = [
                (line[x // per_byte] >> (8 - depth * (x % per_byte + 1))) & ((1 << depth) - 1)
                for x in range(width)
            ]
            row = []
            for index in indices:
                if index >= len(palette):
                    raise PngError("PNG palette index out of range")
                alpha = alpha_table[index] if index < len(alpha_table) else 255
                row.append((*palette[index], alpha))
        elif color_type == 6:
            row = [tuple(line[i : i + 4]) for i in range(0, stride, 4)]
        elif color_type == 2:
            row = [(*line[i : i + 3], 255) for i in range(0, stride, 3)]
        elif color_type == 4:
            row = [(line[i], line[i], line[i], line[i + 1]) for i in range(0, stride, 2)]
        else:
            row = [(v, v, v, 255) for v in line]
        pixels.append(tuple(row))
    has_alpha = color_type in (4, 6) or (color_type == 3 and bool(alpha_table))
    return PngImage(width, height, color_type, has_alpha, tuple(pixels))


def encode_rgba(width: int, height: int, pixels: Sequence[Sequence[RGBA]]) -> bytes:
    """An 8-bit RGBA PNG; deterministic bytes for the same pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    raw = b"".join(b"\x00" + b"".join(bytes(p) for p in row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
