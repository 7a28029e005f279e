"""What the package validator reports: one :class:`Problem` per thing wrong."""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST_NAME = "manifest.json"


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


def json_path(parts) -> str:
    """A JSON Path (``$.bots[0].botId``) from the keys and indexes leading to a value."""
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def where(parts) -> str:
    """Where in the manifest a value is: the file and its JSON Path."""
    return f"{MANIFEST_NAME} {json_path(parts)}"
