"""The manifest rules Microsoft's schema cannot express: the bot's ids and scopes, the commands,
the resource-specific consent the relay needs, the valid domains, the developer's URLs.
"""

from __future__ import annotations

import json
import re

from bot.teams_app.problems import Problem
from bot.teams_app.problems import where as _where

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$"
)
REQUIRED_SCOPES = ("team", "personal", "groupChat")
REQUIRED_COMMANDS = ("setup", "new", "help", "template")
RSC_PERMISSION = "ChannelMessage.Read.Group"
GUID_HINT = "expected a GUID like 00000000-0000-0000-0000-000000000000"


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def check_rules(manifest: object, *, domain: str | None = None) -> list[Problem]:
    """What wabridge needs of its manifest beyond the schema."""
    m = as_dict(manifest)
    bot = _the_bot(m)
    return (
        _check_bot_presence(m, bot)
        + _check_ids(m, bot)
        + _check_bot(bot)
        + _check_rsc(m)
        + _check_domains(m, domain)
        + _check_developer(m)
    )


def _the_bot(m: dict) -> dict:
    bots = _as_list(m.get("bots"))
    return bots[0] if len(bots) == 1 and isinstance(bots[0], dict) else {}


def _check_bot_presence(m: dict, bot: dict) -> list[Problem]:
    if not bot:
        return [
            Problem(
                _where(["bots"]),
                (
                    "the package needs exactly one bot: bots[0].botId = the bot's Microsoft App ID "
                    "(MicrosoftAppId)"
                ),
            )
        ]
    if "botId" not in bot:
        return [
            Problem(
                _where(["bots", 0, "botId"]),
                ("missing: set it to the bot's Microsoft App ID (MicrosoftAppId, a GUID)"),
            )
        ]
    return []


def _check_ids(m: dict, bot: dict) -> list[Problem]:
    """``webApplicationInfo`` names the bot's app, for resource-specific consent."""
    app_info = as_dict(m.get("webApplicationInfo"))
    if not app_info:
        return [
            Problem(
                _where(["webApplicationInfo"]),
                (
                    "missing: resource-specific consent needs webApplicationInfo "
                    '{"id": <the bot\'s Microsoft App ID>, "resource": "https://RscBasedStoreApp"}'
                ),
            )
        ]
    problems = []
    info_id, bot_id = app_info.get("id"), bot.get("botId")
    if isinstance(info_id, str) and isinstance(bot_id, str) and info_id.lower() != bot_id.lower():
        problems.append(
            Problem(
                _where(["webApplicationInfo", "id"]),
                (
                    f"is {info_id} but bots[0].botId is {bot_id}: both must be the bot's Microsoft "
                    "App ID (MicrosoftAppId), or the channel-message permission is granted to "
                    "another app"
                ),
            )
        )
    if not app_info.get("resource"):
        problems.append(
            Problem(
                _where(["webApplicationInfo", "resource"]),
                (
                    "missing: resource-specific consent needs a value here "
                    '("https://RscBasedStoreApp")'
                ),
            )
        )
    return problems


def _check_bot(bot: dict) -> list[Problem]:
    """Scopes, commands and file support of the bot."""
    if not bot:
        return []
    problems = []
    scopes = [s for s in _as_list(bot.get("scopes")) if isinstance(s, str)]
    missing = [s for s in REQUIRED_SCOPES if s not in scopes]
    if missing:
        problems.append(
            Problem(
                _where(["bots", 0, "scopes"]),
                (
                    f"must include {', '.join(map(repr, missing))}: the WhatsApp inbox is a team "
                    "channel, and employees also use the bot in personal and group chats "
                    f"(use {json.dumps(list(REQUIRED_SCOPES))})"
                ),
            )
        )
    titles = set()
    for i, command_list in enumerate(_as_list(bot.get("commandLists"))):
        command_list = as_dict(command_list)
        for scope in _as_list(command_list.get("scopes")):
            if isinstance(scope, str) and scope not in scopes:
                problems.append(
                    Problem(
                        _where(["bots", 0, "commandLists", i, "scopes"]),
                        (
                            f"scope {scope!r} is not one of the bot's scopes {scopes}: "
                            "add it to bots[0].scopes or remove it here"
                        ),
                    )
                )
        for command in _as_list(command_list.get("commands")):
            title = as_dict(command).get("title")
            if isinstance(title, str):
                titles.add(title.strip().lower())
    missing_commands = [c for c in REQUIRED_COMMANDS if c not in titles]
    if missing_commands:
        problems.append(
            Problem(
                _where(["bots", 0, "commandLists"]),
                (
                    f"the bot's commands {', '.join(map(repr, missing_commands))} are not listed: "
                    "add them so that Teams suggests them"
                ),
            )
        )
    if bot.get("supportsFiles") is not True:
        problems.append(
            Problem(
                _where(["bots", 0, "supportsFiles"]),
                ("must be true: employees send and receive WhatsApp media as files"),
            )
        )
    return problems


def _check_rsc(m: dict) -> list[Problem]:
    permissions = as_dict(as_dict(m.get("authorization")).get("permissions"))
    if any(
        isinstance(p, dict) and p.get("name") == RSC_PERMISSION and p.get("type") == "Application"
        for p in _as_list(permissions.get("resourceSpecific"))
    ):
        return []
    return [
        Problem(
            _where(["authorization", "permissions", "resourceSpecific"]),
            (
                f'must contain {{"name": "{RSC_PERMISSION}", "type": "Application"}}: '
                "without it the bot only sees thread replies that @mention it"
            ),
        )
    ]


def _check_domains(m: dict, domain: str | None) -> list[Problem]:
    problems = []
    domains = [d for d in _as_list(m.get("validDomains")) if isinstance(d, str)]
    for i, entry in enumerate(domains):
        if "://" in entry or "/" in entry:
            problems.append(
                Problem(
                    _where(["validDomains", i]),
                    (
                        f"{entry!r} must be a host name only, without scheme or path "
                        "(e.g. wabridge-contoso.azurewebsites.net)"
                    ),
                )
            )
    if domain is not None and domain.lower() not in (d.lower() for d in domains):
        problems.append(
            Problem(
                _where(["validDomains"]), (f"does not contain the bot's domain {domain!r}: add it")
            )
        )
    elif not any(DOMAIN_RE.match(d.lower()) for d in domains):
        problems.append(
            Problem(
                _where(["validDomains"]),
                (
                    "must contain the bot's host name (the web app's domain, e.g. "
                    "wabridge-contoso.azurewebsites.net)"
                ),
            )
        )
    return problems


def _check_developer(m: dict) -> list[Problem]:
    problems = []
    developer = as_dict(m.get("developer"))
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        url = developer.get(key)
        if isinstance(url, str) and not url.lower().startswith("https://"):
            problems.append(
                Problem(
                    _where(["developer", key]),
                    (f"{url!r} must be an https:// URL (Teams refuses plain http links)"),
                )
            )
    return problems
