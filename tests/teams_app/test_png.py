"""Icons as image editors save them: 8- and 16-bit, palette, grayscale with and without alpha.

Each kind is a real PNG file; the ones Pillow can write are made by Pillow, the 16-bit colour
ones (which Pillow cannot write, but GIMP, Photoshop and Krita do) are written from their rows.
The validator must read them all and judge the outline icon by what it shows.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot.teams_app import png
from bot.teams_app.validate import check_icons
from tests.teams_app.conftest import REPO

SIZE = 32


def _symbol(x: int, y: int) -> bool:
    """A white square in the middle of the 32x32 outline icon."""
    return 8 <= x < 24 and 8 <= y < 24


def _stain(x: int, y: int) -> bool:
    """Ten by ten pixels of the symbol painted red."""
    return 10 <= x < 20 and 10 <= y < 20


def _pillow(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **options)
    return out.getvalue()


def _draw(mode: str, inside, outside, stained=None) -> Image.Image:
    image = Image.new(mode, (SIZE, SIZE))
    image.putdata(
        [
            (stained if stained is not None and _stain(x, y) else inside)
            if _symbol(x, y)
            else outside
            for y in range(SIZE)
            for x in range(SIZE)
        ]
    )
    return image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png16(color_type: int, samples, extra: bytes = b"") -> bytes:
    """A 16-bit PNG (colour type 6 RGBA, 4 gray+alpha or 2 RGB) from ``samples(x, y)``."""
    rows = b"".join(
        b"\x00"
        + b"".join(struct.pack(f">{len(s)}H", *s) for s in (samples(x, y) for x in range(SIZE)))
        for y in range(SIZE)
    )
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 16, color_type, 0, 0, 0)
    return (
        png.SIGNATURE
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _palette(stained: bool) -> bytes:
    image = Image.new("P", (SIZE, SIZE))
    image.putpalette([0, 0, 0, 255, 255, 255, 200, 30, 30])
    image.putdata(
        [
            (2 if stained and _stain(x, y) else 1) if _symbol(x, y) else 0
            for y in range(SIZE)
            for x in range(SIZE)
        ]
    )
    return _pillow(image, transparency=0)


def _rgba16(stained: bool):
    def samples(x, y):
        if not _symbol(x, y):
            return (0, 0, 0, 0)
        return (51400, 7710, 7710, 65535) if stained and _stain(x, y) else (65535,) * 4

    return _png16(6, samples)


def _gray_alpha16(stained: bool):
    def samples(x, y):
        if not _symbol(x, y):
            return (0, 0)
        return (30000, 65535) if stained and _stain(x, y) else (65535, 65535)

    return _png16(4, samples)


def _rgb16_keyed(stained: bool):
    """16-bit RGB whose dark gray #123412341234 is the transparent colour (a tRNS chunk)."""

    def samples(x, y):
        if not _symbol(x, y):
            return (0x1234,) * 3
        return (51400, 7710, 7710) if stained and _stain(x, y) else (65535,) * 3

    return _png16(2, samples, extra=_chunk(b"tRNS", b"\x12\x34" * 3))


#: An outline icon of each kind: ``make(stained)`` gives its bytes, white on transparent, or
#: with 100 pixels of its symbol in colour.
KINDS = {
    "8-bit RGBA": lambda s: _pillow(
        _draw("RGBA", (255, 255, 255, 255), (0, 0, 0, 0), (200, 30, 30, 255) if s else None)
    ),
    "8-bit grayscale+alpha": lambda s: _pillow(
        _draw("LA", (255, 255), (0, 0), (120, 255) if s else None)
    ),
    "8-bit palette with tRNS": _palette,
    "8-bit grayscale with a transparent gray": lambda s: _pillow(
        _draw("L", 255, 0, 120 if s else None), transparency=0
    ),
    "16-bit grayscale with a transparent gray": lambda s: _pillow(
        _draw("I;16", 65535, 0, 30000 if s else None), transparency=0
    ),
    "16-bit RGBA": _rgba16,
    "16-bit grayscale+alpha": _gray_alpha16,
    "16-bit RGB with a transparent colour": _rgb16_keyed,
}


def _icons(outline: bytes) -> list[str]:
    files = {"color.png": (REPO / "manifest" / "color.png").read_bytes(), "outline.png": outline}
    manifest = {"icons": {"color": "color.png", "outline": "outline.png"}}
    return [str(p) for p in check_icons(manifest, files)]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_white_on_transparent_outline_icon_of_any_kind_passes(kind):
    data = KINDS[kind](False)
    assert png.read_size(data) == (SIZE, SIZE)
    assert _icons(data) == []
    image = png.decode(data)
    assert image.has_alpha
    assert image.pixels[0][0][3] == 0 and image.pixels[16][16] == (255, 255, 255, 255)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_coloured_outline_icon_of_any_kind_is_refused_counting_its_pixels(kind):
    assert _icons(KINDS[kind](True)) == [
        "outline.png: the outline icon has 100 non-white pixels: it must be white (#FFFFFF) "
        "on a transparent background"
    ]


def test_sixteen_bit_gray_is_scaled_not_clipped():
    """Pillow's own conversion would turn 16-bit mid-gray into white."""
    image = Image.new("I;16", (3, 1))
    image.putdata([0, 32896, 65535])
    assert [p[:3] for p in png.decode(_pillow(image)).pixels[0]] == [
        (0, 0, 0),
        (128, 128, 128),
        (255, 255, 255),
    ]


@pytest.mark.parametrize(
    "mode, depth", [("RGB", "8-bit RGB"), ("I;16", "16-bit grayscale"), ("L", "8-bit grayscale")]
)
def test_an_outline_icon_without_transparency_is_refused_naming_its_kind(mode, depth):
    white = {"RGB": (255, 255, 255), "I;16": 65535, "L": 255}[mode]
    black = {"RGB": (0, 0, 0), "I;16": 0, "L": 0}[mode]
    problems = _icons(_pillow(_draw(mode, white, black)))
    assert problems == [
        f"outline.png: the outline icon has no transparency ({depth} PNG): save it as an RGBA "
        "PNG, white on a transparent background"
    ]


def test_pixels_survive_a_round_trip_through_the_encoder():
    pixels = [
        [
            ((x * 37 + y * 11) % 256, (x * 5) % 256, (y * 90) % 256, (x * y * 7) % 256)
            for x in range(7)
        ]
        for y in range(5)
    ]
    data = png.encode_rgba(7, 5, pixels)
    assert data == png.encode_rgba(7, 5, pixels)
    assert png.read_size(data) == (7, 5)
    assert [list(r) for r in png.decode(data).pixels] == pixels


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"GIF89a....", "not a PNG file"),
        (b"\xff\xd8\xff\xe0 a JPEG", "not a PNG file"),
        (png.SIGNATURE + b"\x00\x00\x00\x0dIHDR", "not a readable PNG file"),
    ],
)
def test_what_is_not_a_png_is_refused_with_a_reason(data, reason):
    with pytest.raises(png.PngError, match=reason):
        png.read_size(data)


def test_a_truncated_png_is_refused_as_corrupt_not_crashing_the_validator():
    whole = _pillow(_draw("RGBA", (255, 255, 255, 255), (0, 0, 0, 0)))
    cut = whole[: len(whole) // 2]
    assert png.read_size(cut) == (SIZE, SIZE)
    with pytest.raises(png.PngError):
        png.decode(cut)
    problems = _icons(cut)
    assert len(problems) == 1 and problems[0].startswith(
        "outline.png: cannot read the outline icon"
    )


def test_a_header_claiming_billions_of_pixels_is_refused_not_decoded():
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0)
    bomb = (
        png.SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )
    with pytest.raises(png.PngError, match="more pixels than can safely be read"):
        png.read_size(bomb)
    problems = _icons(bomb)
    assert (
        len(problems) == 1 and "outline icon must be a PNG file (its header claims" in problems[0]
    )
