"""Offline validation of a Teams app package or manifest.

Two layers: Microsoft's JSON schema for the manifest version (shipped with wabridge), then the
rules the schema cannot express: icon files, sizes and transparency, the bot's ids, the
resource-specific consent the relay needs, the valid domains and the layout of the zip.
Every problem names where it is and what to do about it.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from bot.teams_app import png
from bot.teams_app.problems import MANIFEST_NAME, Problem
from bot.teams_app.problems import json_path as _json_path
from bot.teams_app.problems import where as _where
from bot.teams_app.resources import SCHEMA_VERSION, manifest_schema
from bot.teams_app.rules import GUID_HINT, GUID_RE, as_dict, check_rules

COLOR_SIZE = 192
OUTLINE_SIZE = 32
#: Anti-aliased edges of the outline icon may be a shade off pure white.
NEAR_WHITE = 240


def _explain(error: ValidationError) -> str:
    if error.validator == "pattern" and error.validator_value == GUID_RE.pattern:
        return f"{error.instance!r} is not a GUID ({GUID_HINT})"
    if error.validator == "const" and list(error.absolute_path) == ["manifestVersion"]:
        return (
            f"is {error.instance!r}, but this validator checks manifest version {SCHEMA_VERSION}: "
            f'set manifestVersion to "{SCHEMA_VERSION}" and $schema to the v{SCHEMA_VERSION} URL '
            "(wabridge manifest build does both)"
        )
    if error.validator == "additionalProperties":
        return f"{error.message}: remove it or correct its spelling"
    if error.validator in ("anyOf", "oneOf") and error.context:
        inner = best_match(error.context)
        return f"{_json_path(inner.absolute_path)}: {_explain(inner)}"
    return error.message


def check_schema(manifest: object) -> list[Problem]:
    """The manifest against Microsoft's JSON schema (version :data:`SCHEMA_VERSION`).

    The schema declares draft-04 but also uses ``const`` and ``if``/``then`` from later drafts,
    which Microsoft's own validator enforces; draft-07 reads all of its keywords.
    """
    validator = Draft7Validator(manifest_schema())
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    return [Problem(_where(e.absolute_path), _explain(e)) for e in errors]


def _check_icon(where: str, data: bytes, size: int, outline: bool) -> list[Problem]:
    kind = "outline" if outline else "color"
    try:
        width, height = png.read_size(data)
    except png.PngError as exc:
        return [Problem(where, f"the {kind} icon must be a PNG file ({exc})")]
    if (width, height) != (size, size):
        return [
            Problem(
                where, (f"the {kind} icon is {width}x{height} pixels; it must be {size}x{size}")
            )
        ]
    if not outline:
        return []
    try:
        image = png.decode(data)
    except png.PngError as exc:
        return [Problem(where, f"cannot read the outline icon: {exc}")]
    if not image.has_alpha:
        return [
            Problem(
                where,
                (
                    f"the outline icon has no transparency ({image.color_type_name} PNG): save it as "
                    "an RGBA PNG, white on a transparent background"
                ),
            )
        ]
    problems = []
    corners = [image.pixels[0][0], image.pixels[0][-1], image.pixels[-1][0], image.pixels[-1][-1]]
    if not any(p[3] == 0 for p in corners):
        problems.append(
            Problem(
                where,
                (
                    "the outline icon's background is not transparent (its corners are opaque): "
                    "keep only the white symbol on a transparent background"
                ),
            )
        )
    colored = sum(
        1 for row in image.pixels for (r, g, b, a) in row if a > 0 and min(r, g, b) < NEAR_WHITE
    )
    if colored:
        problems.append(
            Problem(
                where,
                (
                    f"the outline icon has {colored} non-white pixels: it must be white "
                    "(#FFFFFF) on a transparent background"
                ),
            )
        )
    if not any(p[3] > 0 for row in image.pixels for p in row):
        problems.append(
            Problem(where, ("the outline icon is entirely transparent: draw the symbol in white"))
        )
    return problems


def check_icons(manifest: object, files: Mapping[str, bytes]) -> list[Problem]:
    """The icons named by ``icons.color`` and ``icons.outline``: present at the package root,
    PNG, 192x192 and 32x32, the outline white on transparent."""
    problems: list[Problem] = []
    icons = as_dict(as_dict(manifest).get("icons"))
    for key, size in (("color", COLOR_SIZE), ("outline", OUTLINE_SIZE)):
        name = icons.get(key)
        if not isinstance(name, str) or not name:
            continue  # the schema reports a missing icon entry
        if "/" in name or "\\" in name:
            problems.append(
                Problem(
                    _where(["icons", key]),
                    (
                        f"{name!r}: put the icon at the package root, next to manifest.json, "
                        "and name it without a folder"
                    ),
                )
            )
            continue
        data = files.get(name)
        if data is None:
            problems.append(
                Problem(
                    name,
                    (
                        f"missing: the manifest's icons.{key} names {name!r}, which is not in the "
                        f"package; add a {size}x{size} PNG of that name next to manifest.json"
                    ),
                )
            )
            continue
        problems.extend(_check_icon(name, data, size, outline=key == "outline"))
    return problems


def check_manifest(
    manifest: object, files: Mapping[str, bytes], *, domain: str | None = None
) -> list[Problem]:
    """Schema, wabridge's rules and the icons; an empty list means valid."""
    problems = (
        check_schema(manifest) + check_rules(manifest, domain=domain) + check_icons(manifest, files)
    )
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in problems:
        if (p.where, p.message) not in seen:
            seen.add((p.where, p.message))
            unique.append(p)
    return unique


def _parse_manifest(data: bytes) -> tuple[object | None, list[Problem]]:
    try:
        return json.loads(data.decode("utf-8-sig")), []
    except UnicodeDecodeError:
        return None, [Problem(MANIFEST_NAME, "is not UTF-8 text: save it as UTF-8")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                MANIFEST_NAME,
                (f"is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"),
            )
        ]


def read_package(path: Path) -> tuple[dict[str, bytes], list[Problem]]:
    """The files at the root of a zip, and problems with its layout."""
    where = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return {}, [Problem(where, f"is not a readable zip file ({exc})")]
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    nested_manifest = None
    with archive:
        for info in archive.infolist():
            name = info.filename
            pure = PurePosixPath(name.replace("\\", "/"))
            if pure.is_absolute() or ".." in pure.parts or "\\" in name:
                problems.append(
                    Problem(
                        where,
                        (
                            f"entry {name!r} has an unsafe path: rebuild the zip from the files themselves"
                        ),
                    )
                )
                continue
            if info.is_dir():
                continue
            if len(pure.parts) > 1:
                if pure.name == MANIFEST_NAME and nested_manifest is None:
                    nested_manifest = str(pure.parent)
                continue
            if name in files:
                problems.append(Problem(where, f"entry {name!r} appears twice: keep one"))
                continue
            try:
                files[name] = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                problems.append(Problem(where, f"entry {name!r} cannot be read ({exc})"))
    if MANIFEST_NAME not in files:
        if nested_manifest:
            problems.append(
                Problem(
                    where,
                    (
                        f"manifest.json is inside the folder {nested_manifest!r}: zip the files "
                        "themselves so that manifest.json and the icons are at the root of the zip"
                    ),
                )
            )
        else:
            problems.append(
                Problem(
                    where,
                    (
                        "has no manifest.json at its root: build the package with "
                        "`wabridge manifest build`"
                    ),
                )
            )
    return files, problems


def validate_package(path: Path, *, domain: str | None = None) -> list[Problem]:
    """Validate an app package zip; an empty list means valid."""
    files, problems = read_package(path)
    if MANIFEST_NAME not in files:
        return problems
    manifest, parse_problems = _parse_manifest(files[MANIFEST_NAME])
    if manifest is None:
        return problems + parse_problems
    return problems + check_manifest(manifest, files, domain=domain)


def validate_manifest_file(path: Path, *, domain: str | None = None) -> list[Problem]:
    """Validate a ``manifest.json`` with its icons in the same folder."""
    manifest, problems = _parse_manifest(path.read_bytes())
    if manifest is None:
        return problems
    files: dict[str, bytes] = {}
    for name in as_dict(as_dict(manifest).get("icons")).values():
        if isinstance(name, str) and name and "/" not in name and "\\" not in name:
            icon = path.parent / name
            if icon.is_file():
                files[name] = icon.read_bytes()
    return check_manifest(manifest, files, domain=domain)


def validate_path(path: Path, *, domain: str | None = None) -> list[Problem]:
    """A ``.zip`` package or a ``manifest.json``, by content: a zip starts with ``PK``."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK"):
        return validate_package(path, domain=domain)
    return validate_manifest_file(path, domain=domain)
