"""Where the manifest template, the icons and the JSON schema are, installed or in a checkout."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

#: The Teams manifest schema version the template uses and ``manifest validate`` checks against.
SCHEMA_VERSION = "1.29"
TEMPLATE_NAME = "manifest.template.json"
ICON_NAMES = ("color.png", "outline.png")

_PACKAGE = "bot.teams_app"


def template_dir() -> Path:
    """The folder holding ``manifest.template.json`` and the icons.

    An installed wheel carries a copy of the checkout's top-level ``manifest/`` as package data
    (``bot/teams_app/template``, put there by ``setup.py`` at build time); an editable install
    or a checkout reads ``manifest/`` itself.
    """
    packaged = Path(str(resources.files(_PACKAGE) / "template"))
    if (packaged / TEMPLATE_NAME).is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "manifest"
    if (checkout / TEMPLATE_NAME).is_file():
        return checkout
    raise FileNotFoundError(
        f"the Teams manifest template is missing (looked in {packaged} and {checkout}); "
        "reinstall wabridge"
    )


@cache
def manifest_schema() -> dict:
    """Microsoft's JSON schema for Teams manifests, the version in :data:`SCHEMA_VERSION`."""
    path = resources.files(_PACKAGE) / "schema" / "MicrosoftTeams.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))
