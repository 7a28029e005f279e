"""File names inside an export: portable (no ``:``) and never ambiguous."""

from __future__ import annotations

from bridge.ids import safe_component


def portable_name(value: str) -> str:
    """``safe_component`` with ``:`` encoded too, so the name is valid on Windows as well."""
    return safe_component(value).replace(":", "%3A")
