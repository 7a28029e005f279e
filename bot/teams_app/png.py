"""App icons as PNG files, read and written with Pillow.

Any PNG an image editor saves is read: 1- to 16-bit, grayscale, RGB or palette, with or without
an alpha channel or a transparent colour. Pixels come out as 8-bit RGBA.
"""

from __future__ import annotations

import io
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE_NAMES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}
#: Pillow's modes that keep 16-bit grayscale samples (it reads 16-bit colour as 8-bit).
_WIDE_GRAY = ("I", "I;16", "I;16B", "I;16L")

RGBA = tuple[int, int, int, int]


class PngError(ValueError):
    """The bytes are not a PNG that can be read; the message says what is wrong."""


@dataclass(frozen=True)
class PngImage:
    """A decoded image: ``pixels[y][x]`` is an ``(r, g, b, a)`` tuple of 8-bit values."""

    width: int
    height: int
    color_type: int
    bit_depth: int
    has_alpha: bool
    pixels: tuple[tuple[RGBA, ...], ...]

    @property
    def color_type_name(self) -> str:
        name = _COLOR_TYPE_NAMES.get(self.color_type, str(self.color_type))
        return f"{self.bit_depth}-bit {name}"


def _open(data: bytes) -> Image.Image:
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file")
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    except Image.DecompressionBombError as exc:
        raise PngError(f"its header claims more pixels than can safely be read ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PngError(f"not a readable PNG file ({exc})") from None
    return image


def read_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, without decoding the pixels."""
    return _open(data).size


def _gray16_to_rgba(image: Image.Image) -> Image.Image:
    """16-bit grayscale scaled to 8 bits (Pillow's own conversion clips at 255 instead), its
    transparent gray value, if any, made transparent."""
    samples = image.convert("I;16") if image.mode != "I;16" else image
    values = array("H", samples.tobytes())
    if sys.byteorder == "big":
        values.byteswap()
    transparent = image.info.get("transparency")
    gray = Image.frombytes("L", image.size, bytes(v >> 8 for v in values))
    alpha = Image.frombytes("L", image.size, bytes(0 if v == transparent else 255 for v in values))
    return Image.merge("RGBA", (gray, gray, gray, alpha))


def decode(data: bytes) -> PngImage:
    """Decode any PNG to 8-bit RGBA pixels; :class:`PngError` says why one cannot be read."""
    image = _open(data)
    bit_depth, color_type = data[24], data[25]  # IHDR, the first chunk of every PNG
    try:
        image.load()
        if image.mode in _WIDE_GRAY:
            rgba = _gray16_to_rgba(image)
        else:
            transparent = image.info.get("transparency")
            if bit_depth == 16 and isinstance(transparent, tuple):
                # The colour key is given in 16 bits; Pillow's pixels are the high bytes.
                image.info["transparency"] = tuple(v >> 8 for v in transparent)
            rgba = image.convert("RGBA")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise PngError(f"corrupt PNG ({exc})") from None
    width, height = rgba.size
    flat = rgba.tobytes()
    stride = width * 4
    pixels = tuple(
        tuple(tuple(flat[row + x : row + x + 4]) for x in range(0, stride, 4))
        for row in range(0, height * stride, stride)
    )
    has_alpha = image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in image.info
    return PngImage(width, height, color_type, bit_depth, has_alpha, pixels)  # type: ignore[arg-type]


def encode_rgba(width: int, height: int, pixels: Sequence[Sequence[RGBA]]) -> bytes:
    """An 8-bit RGBA PNG; the same pixels give the same bytes with the same Pillow."""
    raw = b"".join(bytes(p) for row in pixels for p in row)
    image = Image.frombytes("RGBA", (width, height), raw)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
