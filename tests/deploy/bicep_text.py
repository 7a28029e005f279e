"""Just enough reading of Bicep text to cross-check declarations (no Bicep compiler here)."""

from __future__ import annotations

import re
from dataclasses import dataclass

PARAM_RE = re.compile(r"^param\s+(\w+)\s+(\w+)(\s*=\s*(.+))?$", re.M)
OUTPUT_RE = re.compile(r"^output\s+(\w+)\s+\w+\s*=", re.M)
MODULE_RE = re.compile(r"^module\s+(\w+)\s+'([^']+)'\s*=\s*\{", re.M)
RESOURCE_RE = re.compile(r"^resource\s+(\w+)\s+'([^'@]+)@([^']+)'", re.M)


def strip_comments(text: str) -> str:
    """Remove // comments (outside strings)."""
    out = []
    for line in text.splitlines():
        in_string = False
        cut = len(line)
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "'" and not (i and line[i - 1] == "\\"):
                in_string = not in_string
            elif not in_string and line.startswith("//", i):
                cut = i
                break
            i += 1
        out.append(line[:cut])
    return "\n".join(out)


def block_after(text: str, start: int) -> str:
    """The text of the ``{ ... }`` block opening at or after ``start``."""
    open_at = text.index("{", start)
    depth = 0
    in_string = False
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "'" and text[i - 1] != "\\":
            in_string = not in_string
        elif not in_string:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[open_at : i + 1]
    raise ValueError("unbalanced braces")


def top_level_keys(block: str) -> list[str]:
    """Keys at depth 1 of an object block ``{ a: ..., b: ... }``."""
    keys = []
    depth = 0
    in_string = False
    for line in block.splitlines():
        if depth == 1 and not in_string:
            match = re.match(r"\s*'?([\w-]+)'?\s*:", line)
            if match:
                keys.append(match.group(1))
        for i, ch in enumerate(line):
            if ch == "'" and (i == 0 or line[i - 1] != "\\"):
                in_string = not in_string
            elif not in_string and ch in "{[":
                depth += 1
            elif not in_string and ch in "}]":
                depth -= 1
    return keys


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    has_default: bool


def params(text: str) -> dict[str, Param]:
    text = strip_comments(text)
    return {
        m.group(1): Param(m.group(1), m.group(2), m.group(3) is not None)
        for m in PARAM_RE.finditer(text)
    }


def modules(text: str) -> dict[str, tuple[str, list[str]]]:
    """Module name -> (path, names of the params it passes)."""
    text = strip_comments(text)
    found = {}
    for match in MODULE_RE.finditer(text):
        body = block_after(text, match.end() - 1)
        params_at = re.search(r"^\s*params:\s*\{", body, re.M)
        passed = top_level_keys(block_after(body, params_at.end() - 1)) if params_at else []
        found[match.group(1)] = (match.group(2), passed)
    return found
