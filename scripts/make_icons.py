#!/usr/bin/env python3
"""Draw the Teams app icons into manifest/: color.png (192x192) and outline.png (32x32).

The design: a speech bubble with a check mark (a conversation that is kept and checked).
The color icon is a white bubble on the accent colour; the outline icon is the white bubble with
the check mark cut out, on a transparent background, as Teams requires. Run it again after
changing the drawing: ``.venv/bin/python scripts/make_icons.py``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.teams_app.png import encode_rgba  # noqa: E402

ACCENT = (11, 122, 92)  # #0B7A5C, the manifest's accentColor
WHITE = (255, 255, 255)
SUBSAMPLES = 4


def _segment_distance(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _in_triangle(px, py, a, b, c):
    def side(p1, p2):
        return (px - p2[0]) * (p1[1] - p2[1]) - (p1[0] - p2[0]) * (py - p2[1])

    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    has_neg = d1 < 0 or d2 < 0 or d3 < 0
    has_pos = d1 > 0 or d2 > 0 or d3 > 0
    return not (has_neg and has_pos)


def bubble(u: float, v: float) -> bool:
    """The speech bubble in unit coordinates (0..1): an ellipse with a tail at lower left."""
    inside_ellipse = ((u - 0.5) / 0.40) ** 2 + ((v - 0.46) / 0.34) ** 2 <= 1.0
    tail = _in_triangle(u, v, (0.22, 0.62), (0.40, 0.74), (0.14, 0.90))
    return inside_ellipse or tail


def check_mark(u: float, v: float, width: float) -> bool:
    """A check mark of the given stroke width, centred in the bubble."""
    return (
        _segment_distance(u, v, 0.33, 0.47, 0.45, 0.58) <= width / 2
        or _segment_distance(u, v, 0.45, 0.58, 0.67, 0.34) <= width / 2
    )


def render(size: int, paint) -> list[list[tuple[int, int, int, int]]]:
    """Anti-aliased rendering: ``paint(u, v)`` gives an RGBA colour for a point."""
    rows = []
    n = SUBSAMPLES
    for y in range(size):
        row = []
        for x in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(n):
                for sx in range(n):
                    u = (x + (sx + 0.5) / n) / size
                    v = (y + (sy + 0.5) / n) / size
                    r, g, b, a = paint(u, v)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            alpha = acc[3] / (n * n)
            if acc[3] == 0:
                row.append((0, 0, 0, 0))
            else:
                row.append(tuple(round(c / acc[3]) for c in acc[:3]) + (round(alpha),))
        rows.append(row)
    return rows


def color_paint(u, v):
    if bubble(u, v) and not check_mark(u, v, 0.085):
        return (*WHITE, 255)
    return (*ACCENT, 255)


def outline_paint(u, v):
    if bubble(u, v) and not check_mark(u, v, 0.12):
        return (*WHITE, 255)
    return (0, 0, 0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "manifest", help="target folder")
    out = parser.parse_args().out
    (out / "color.png").write_bytes(encode_rgba(192, 192, render(192, color_paint)))
    (out / "outline.png").write_bytes(encode_rgba(32, 32, render(32, outline_paint)))
    print(f"wrote {out / 'color.png'} and {out / 'outline.png'}")


if __name__ == "__main__":
    main()
