"""Approved WhatsApp message templates, from the file named by ``WABRIDGE_TEMPLATES_FILE``.

Outside the 24-hour customer-service window WhatsApp accepts only approved templates. The file
lists the ones employees may send (TOML)::

    [[templates]]
    name = "follow_up"          # the template's name at Meta
    language = "en_US"
    params = 1                  # how many body parameters it takes
    description = "Hello {{1}}, following up on our conversation. Can we talk?"
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class TemplateError(ValueError):
    """The templates file is invalid, or a template command does not fit its template."""


@dataclass(frozen=True)
class Template:
    name: str
    language: str = "en_US"
    params: int = 0
    description: str = ""

    def usage(self) -> str:
        args = " ".join(f"PARAM{i}" for i in range(1, self.params + 1))
        return f"template {self.name}" + (f" {args}" if args else "")

    def render(self, params: Sequence[str]) -> str:
        text = self.description or self.name
        for i, value in enumerate(params, start=1):
            text = text.replace(f"{{{{{i}}}}}", value)
        return text


def load_templates(path: str | None) -> dict[str, Template]:
    """The approved templates by name; an empty dict when no file is configured."""
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"WABRIDGE_TEMPLATES_FILE {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"WABRIDGE_TEMPLATES_FILE {path}: {exc}") from None
    templates: dict[str, Template] = {}
    for number, item in enumerate(data.get("templates") or [], start=1):
        name = item.get("name")
        params = item.get("params", 0)
        if not isinstance(name, str) or not name:
            raise TemplateError(f"WABRIDGE_TEMPLATES_FILE {path}: template #{number} has no name")
        if not isinstance(params, int) or params < 0:
            raise TemplateError(
                f"WABRIDGE_TEMPLATES_FILE {path}: template {name}: params must be >= 0"
            )
        templates[name] = Template(
            name, str(item.get("language") or "en_US"), params, str(item.get("description") or "")
        )
    return templates


def choose(templates: dict[str, Template], name: str, params: Sequence[str]) -> Template:
    """The template for a ``template NAME param…`` command, or a one-line reason why not."""
    template = templates.get(name)
    if template is None:
        known = ", ".join(sorted(templates)) or "none are configured"
        raise TemplateError(f"There is no approved template named {name!r} (approved: {known}).")
    if len(params) != template.params:
        raise TemplateError(
            f"Template {name} takes {template.params} parameter(s), not {len(params)}: "
            f"{template.usage()}"
        )
    return template
