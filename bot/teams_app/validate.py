"""Offline validation of a Teams app package or manifest.

Two layers: Microsoft's JSON schema for the manifest version (shipped with wabridge), then the
rules the schema cannot express: icon files, sizes and transparency, the bot's ids, the
resource-specific consent the relay needs, the valid domains and the layout of the zip.
Every problem names where it is and what to do about it.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from bot.teams_app import png
from bot.teams_app.resources import SCHEMA_VERSION, manifest_schema

MANIFEST_NAME = "manifest.json"
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$"
)
REQUIRED_SCOPES = ("team", "personal", "groupChat")
REQUIRED_COMMANDS = ("setup", "new", "help", "template")
RSC_PERMISSION = "ChannelMessage.Read.Group"
COLOR_SIZE = 192
OUTLINE_SIZE = 32
#: Anti-aliased edges of the outline icon may be a shade off pure white.
NEAR_WHITE = 240
GUID_HINT = "expected a GUID like 00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package: ``where`` (file and JSON path) and what to fix."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class PackageInvalid(Exception):
    """Raised by the package builder when the result would not validate."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _json_path(parts) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _where(parts) -> str:
    return f"{MANIFEST_NAME} {_json_path(parts)}"


def _explain(error: ValidationError) -> str:
    if error.validator == "pattern" and error.validator_value == GUID_RE.pattern:
        return f"{error.instance!r} is not a GUID ({GUID_HINT})"
    if error.validator == "const" and list(error.absolute_path) == ["manifestVersion"]:
        return (
            f"is {error.instance!r}, but this validator checks manifest version {SCHEMA_VERSION}: "
            f"set manifestVersion to \"{SCHEMA_VERSION}\" and $schema to the v{SCHEMA_VERSION} URL "
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


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def check_rules(manifest: object, *, domain: str | None = None) -> list[Problem]:
    """What wabridge needs of its manifest beyond the schema."""
    m = _as_dict(manifest)
    bot = _the_bot(m)
    return (
        _check_bot_presence(m, bot) + _check_ids(m, bot) + _check_bot(bot) + _check_rsc(m)
        + _check_domains(m, domain) + _check_developer(m)
    )


def _the_bot(m: dict) -> dict:
    bots = _as_list(m.get("bots"))
    return bots[0] if len(bots) == 1 and isinstance(bots[0], dict) else {}


def _check_bot_presence(m: dict, bot: dict) -> list[Problem]:
    if not bot:
        return [Problem(_where(["bots"]), (
            "the package needs exactly one bot: bots[0].botId = the bot's Microsoft App ID "
            "(MicrosoftAppId)"
        ))]
    if "botId" not in bot:
        return [Problem(_where(["bots", 0, "botId"]), (
            "missing: set it to the bot's Microsoft App ID (MicrosoftAppId, a GUID)"
        ))]
    return []


def _check_ids(m: dict, bot: dict) -> list[Problem]:
    """``webApplicationInfo`` names the bot's app, for resource-specific consent."""
    app_info = _as_dict(m.get("webApplicationInfo"))
    if not app_info:
        return [Problem(_where(["webApplicationInfo"]), (
            "missing: resource-specific consent needs webApplicationInfo "
            "{\"id\": <the bot's Microsoft App ID>, \"resource\": \"https://RscBasedStoreApp\"}"
        ))]
    problems = []
    info_id, bot_id = app_info.get("id"), bot.get("botId")
    if isinstance(info_id, str) and isinstance(bot_id, str) and info_id.lower() != bot_id.lower():
        problems.append(Problem(_where(["webApplicationInfo", "id"]), (
            f"is {info_id} but bots[0].botId is {bot_id}: both must be the bot's Microsoft "
            "App ID (MicrosoftAppId), or the channel-message permission is granted to "
            "another app"
        )))
    if not app_info.get("resource"):
        problems.append(Problem(_where(["webApplicationInfo", "resource"]), (
            "missing: resource-specific consent needs a value here "
            "(\"https://RscBasedStoreApp\")"
        )))
    return problems


def _check_bot(bot: dict) -> list[Problem]:
    """Scopes, commands and file support of the bot."""
    if not bot:
        return []
    problems = []
    scopes = [s for s in _as_list(bot.get("scopes")) if isinstance(s, str)]
    missing = [s for s in REQUIRED_SCOPES if s not in scopes]
    if missing:
        problems.append(Problem(_where(["bots", 0, "scopes"]), (
            f"must include {', '.join(map(repr, missing))}: the WhatsApp inbox is a team "
            "channel, and employees also use the bot in personal and group chats "
            f"(use {json.dumps(list(REQUIRED_SCOPES))})"
        )))
    titles = set()
    for i, command_list in enumerate(_as_list(bot.get("commandLists"))):
        command_list = _as_dict(command_list)
        for scope in _as_list(command_list.get("scopes")):
            if isinstance(scope, str) and scope not in scopes:
                problems.append(Problem(_where(["bots", 0, "commandLists", i, "scopes"]), (
                    f"scope {scope!r} is not one of the bot's scopes {scopes}: "
                    "add it to bots[0].scopes or remove it here"
                )))
        for command in _as_list(command_list.get("commands")):
            title = _as_dict(command).get("title")
            if isinstance(title, str):
                titles.add(title.strip().lower())
    missing_commands = [c for c in REQUIRED_COMMANDS if c not in titles]
    if missing_commands:
        problems.append(Problem(_where(["bots", 0, "commandLists"]), (
            f"the bot's commands {', '.join(map(repr, missing_commands))} are not listed: "
            "add them so that Teams suggests them"
        )))
    if bot.get("supportsFiles") is not True:
        problems.append(Problem(_where(["bots", 0, "supportsFiles"]), (
            "must be true: employees send and receive WhatsApp media as files"
        )))
    return problems


def _check_rsc(m: dict) -> list[Problem]:
    permissions = _as_dict(_as_dict(m.get("authorization")).get("permissions"))
    if any(
        isinstance(p, dict) and p.get("name") == RSC_PERMISSION and p.get("type") == "Application"
        for p in _as_list(permissions.get("resourceSpecific"))
    ):
        return []
    return [Problem(_where(["authorization", "permissions", "resourceSpecific"]), (
        f"must contain {{\"name\": \"{RSC_PERMISSION}\", \"type\": \"Application\"}}: "
        "without it the bot only sees thread replies that @mention it"
    ))]


def _check_domains(m: dict, domain: str | None) -> list[Problem]:
    problems = []
    domains = [d for d in _as_list(m.get("validDomains")) if isinstance(d, str)]
    for i, entry in enumerate(domains):
        if "://" in entry or "/" in entry:
            problems.append(Problem(_where(["validDomains", i]), (
                f"{entry!r} must be a host name only, without scheme or path "
                "(e.g. wabridge-contoso.azurewebsites.net)"
            )))
    if domain is not None and domain.lower() not in (d.lower() for d in domains):
        problems.append(Problem(_where(["validDomains"]), (
            f"does not contain the bot's domain {domain!r}: add it"
        )))
    elif not any(DOMAIN_RE.match(d.lower()) for d in domains):
        problems.append(Problem(_where(["validDomains"]), (
            "must contain the bot's host name (the web app's domain, e.g. "
            "wabridge-contoso.azurewebsites.net)"
        )))
    return problems


def _check_developer(m: dict) -> list[Problem]:
    problems = []
    developer = _as_dict(m.get("developer"))
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        url = developer.get(key)
        if isinstance(url, str) and not url.lower().startswith("https://"):
            problems.append(Problem(_where(["developer", key]), (
                f"{url!r} must be an https:// URL (Teams refuses plain http links)"
            )))
    return problems


def _check_icon(where: str, data: bytes, size: int, outline: bool) -> list[Problem]:
    kind = "outline" if outline else "color"
    try:
        width, height = png.read_size(data)
    except png.PngError as exc:
        return [Problem(where, f"the {kind} icon must be a PNG file ({exc})")]
    if (width, height) != (size, size):
        return [Problem(where, (
            f"the {kind} icon is {width}x{height} pixels; it must be {size}x{size}"
        ))]
    if not outline:
        return []
    try:
        image = png.decode(data)
    except png.PngError as exc:
        return [Problem(where, f"cannot read the outline icon: {exc}")]
    if not image.has_alpha:
        return [Problem(where, (
            f"the outline icon has no transparency ({image.color_type_name} PNG): save it as "
            "an RGBA PNG, white on a transparent background"
        ))]
    problems = []
    corners = [image.pixels[0][0], image.pixels[0][-1], image.pixels[-1][0], image.pixels[-1][-1]]
    if not any(p[3] == 0 for p in corners):
        problems.append(Problem(where, (
            "the outline icon's background is not transparent (its corners are opaque): "
            "keep only the white symbol on a transparent background"
        )))
    colored = sum(
        1 for row in image.pixels for (r, g, b, a) in row
        if a > 0 and min(r, g, b) < NEAR_WHITE
    )
    if colored:
        problems.append(Problem(where, (
            f"the outline icon has {colored} non-white pixels: it must be white "
            "(#FFFFFF) on a transparent background"
        )))
    if not any(p[3] > 0 for row in image.pixels for p in row):
        problems.append(Problem(where, (
            "the outline icon is entirely transparent: draw the symbol in white"
        )))
    return problems


def check_icons(manifest: object, files: Mapping[str, bytes]) -> list[Problem]:
    """The icons named by ``icons.color`` and ``icons.outline``: present at the package root,
    PNG, 192x192 and 32x32, the outline white on transparent."""
    problems: list[Problem] = []
    icons = _as_dict(_as_dict(manifest).get("icons"))
    for key, size in (("color", COLOR_SIZE), ("outline", OUTLINE_SIZE)):
        name = icons.get(key)
        if not isinstance(name, str) or not name:
            continue  # the schema reports a missing icon entry
        if "/" in name or "\\" in name:
            problems.append(Problem(_where(["icons", key]), (
                f"{name!r}: put the icon at the package root, next to manifest.json, "
                "and name it without a folder"
            )))
            continue
        data = files.get(name)
        if data is None:
            problems.append(Problem(name, (
                f"missing: the manifest's icons.{key} names {name!r}, which is not in the "
                f"package; add a {size}x{size} PNG of that name next to manifest.json"
            )))
            continue
        problems.extend(_check_icon(name, data, size, outline=key == "outline"))
    return problems


def check_manifest(
    manifest: object, files: Mapping[str, bytes], *, domain: str | None = None
) -> list[Problem]:
    """Schema, wabridge's rules and the icons; an empty list means valid."""
    problems = (
        check_schema(manifest) + check_rules(manifest, domain=domain)
        + check_icons(manifest, files)
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
        return None, [Problem(MANIFEST_NAME, (
            f"is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ))]


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
                problems.append(Problem(where, (
                    f"entry {name!r} has an unsafe path: rebuild the zip from the files themselves"
                )))
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
            problems.append(Problem(where, (
                f"manifest.json is inside the folder {nested_manifest!r}: zip the files "
                "themselves so that manifest.json and the icons are at the root of the zip"
            )))
        else:
            problems.append(Problem(where, (
                "has no manifest.json at its root: build the package with "
                "`wabridge manifest build`"
            )))
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
    for name in _as_dict(_as_dict(manifest).get("icons")).values():
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

