"""The policy file (``WABRIDGE_POLICY_FILE``, TOML; DESIGN.md §3.6) and the lexicon it holds.

:func:`load_policy` parses and checks the whole file up front, so that a bad file stops the
service at start-up with a message naming the line or the rule. :meth:`Policy.findings` is the
pure lexicon: text (and attachment MIME types) in, findings out.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.governance.detectors import DETECTORS
from bridge.record import Flag

ACTIONS = ("block", "flag")
DIRECTIONS = ("inbound", "outbound", "both")
ATTACHMENT_RULE = "attachment-type"


class PolicyError(ValueError):
    """The policy file is unusable; the message names the file and the line or rule."""


@dataclass(frozen=True)
class Rule:
    """One lexicon rule: a detector, a regular expression or a list of keywords."""

    name: str
    action: str
    direction: str
    reason: str
    detector: str | None = None
    pattern: str | None = None
    keywords: tuple[str, ...] = ()
    line: int | None = None
    _matcher: Callable[[str], list[str]] = field(default=lambda text: [], repr=False, compare=False)

    def applies_to(self, direction: str) -> bool:
        return self.direction == "both" or self.direction == direction

    def matches(self, text: str) -> list[str]:
        """The pieces of ``text`` this rule fires on (empty if it does not)."""
        return self._matcher(text or "")

    def describe_pattern(self) -> str:
        if self.detector:
            return f"detector {self.detector}"
        if self.pattern is not None:
            return f"pattern {self.pattern}"
        return "keywords " + ", ".join(self.keywords)


@dataclass(frozen=True)
class Finding:
    """A rule that fired, with what it matched (the match is never archived, only shown)."""

    rule: str
    action: str
    reason: str
    matched: tuple[str, ...] = ()

    def flag(self) -> Flag:
        return Flag(rule=self.rule, action=self.action, reason=self.reason)


@dataclass(frozen=True)
class Policy:
    """The acceptable-use text and its version, the lexicon rules and the attachment allow-list."""

    version: str
    text: str
    rules: tuple[Rule, ...] = ()
    outbound_allowed: tuple[str, ...] | None = None
    contact: str | None = None
    source: str | None = None

    @property
    def text_sha256(self) -> str:
        """The hash of the policy text an acknowledgement is recorded against."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def findings(self, text: str, direction: str, mime_types: Sequence[str] = ()) -> list[Finding]:
        """Every rule for ``direction`` that fires on ``text``, then disallowed attachment types."""
        if direction not in ("inbound", "outbound"):
            raise ValueError(f"direction must be inbound or outbound, not {direction!r}")
        found = []
        for rule in self.rules:
            if rule.applies_to(direction):
                matched = rule.matches(text)
                if matched:
                    found.append(Finding(rule.name, rule.action, rule.reason, tuple(matched)))
        if direction == "outbound" and self.outbound_allowed is not None:
            refused = [m for m in mime_types if _base_mime(m) not in self.outbound_allowed]
            if refused:
                found.append(
                    Finding(
                        ATTACHMENT_RULE,
                        "block",
                        "Attachments of type "
                        + ", ".join(sorted(set(refused)))
                        + " may not be sent over WhatsApp (allowed: "
                        + (", ".join(self.outbound_allowed) or "none")
                        + ")",
                        tuple(refused),
                    )
                )
        return found


def _base_mime(mime_type: str) -> str:
    return (mime_type or "").split(";")[0].strip().lower()


def load_policy(path: str | Path) -> Policy:
    """Read and check a policy file; :class:`PolicyError` names the line or rule at fault."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"policy file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"policy file {path}: not UTF-8 text ({exc.reason})") from exc
    return parse_policy(source, name=str(path))


def parse_policy(source: str, *, name: str = "policy") -> Policy:
    """Parse policy TOML text (see :func:`load_policy`)."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{name}: not valid TOML: {exc}") from exc

    def fail(message: str, line: int | None = None) -> PolicyError:
        where = f"{name}:{line}" if line else name
        return PolicyError(f"{where}: {message}")

    unknown = set(data) - {"policy", "rules", "attachments"}
    if unknown:
        raise fail(
            "unknown table(s) "
            + ", ".join(sorted(unknown))
            + " (expected [policy], [[rules]], [attachments])"
        )
    head = data.get("policy")
    policy_line = _header_lines(source, "[policy]")
    if not isinstance(head, dict):
        raise fail("missing [policy] table with version and text")
    version = head.get("version")
    text = head.get("text")
    head_line = policy_line[0] if policy_line else None
    if not isinstance(version, str) or not version.strip():
        raise fail("[policy] version must be a non-empty string", head_line)
    if not isinstance(text, str) or not text.strip():
        raise fail("[policy] text must be a non-empty string", head_line)
    contact = head.get("contact")
    if contact is not None and not isinstance(contact, str):
        raise fail("[policy] contact must be a string", head_line)

    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise fail("rules must be written as [[rules]] tables")
    rule_lines = _header_lines(source, "[[rules]]")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        line = rule_lines[index] if index < len(rule_lines) else None
        rule = _parse_rule(raw, index, line, fail)
        if rule.name in seen:
            raise fail(f"rule {rule.name!r}: a second rule with this name", line)
        seen.add(rule.name)
        rules.append(rule)

    allowed: tuple[str, ...] | None = None
    attachments = data.get("attachments")
    if attachments is not None:
        att_line = (_header_lines(source, "[attachments]") or [None])[0]
        if not isinstance(attachments, dict) or set(attachments) - {"outbound_allowed"}:
            raise fail("[attachments] takes only outbound_allowed = [MIME types]", att_line)
        value = attachments.get("outbound_allowed")
        if value is not None:
            if not isinstance(value, list) or not all(
                isinstance(v, str) and re.fullmatch(r"[\w.+-]+/[\w.+*-]+", v) for v in value
            ):
                raise fail(
                    '[attachments] outbound_allowed must be a list of MIME types like "image/png"',
                    att_line,
                )
            allowed = tuple(v.lower() for v in value)
    return Policy(
        version=version.strip(),
        text=text,
        rules=tuple(rules),
        outbound_allowed=allowed,
        contact=contact,
        source=name,
    )


def _parse_rule(raw: Any, index: int, line: int | None, fail) -> Rule:
    label = f"rule #{index + 1}"
    if not isinstance(raw, dict):
        raise fail(f"{label} is not a table", line)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail(f"{label} needs a name", line)
    label = f"rule {name!r}"
    known = {"name", "detector", "pattern", "keywords", "action", "direction", "reason"}
    unknown = set(raw) - known
    if unknown:
        raise fail(f"{label}: unknown key(s) " + ", ".join(sorted(unknown)), line)
    action = raw.get("action")
    if action not in ACTIONS:
        raise fail(f"{label}: action must be block or flag, not {action!r}", line)
    direction = raw.get("direction", "both")
    if direction not in DIRECTIONS:
        raise fail(f"{label}: direction must be inbound, outbound or both, not {direction!r}", line)
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise fail(f"{label}: needs a reason (shown to the employee and archived)", line)
    given = [k for k in ("detector", "pattern", "keywords") if k in raw]
    if len(given) != 1:
        raise fail(f"{label}: give exactly one of detector, pattern or keywords", line)
    detector = pattern = None
    keywords: tuple[str, ...] = ()
    if "detector" in raw:
        detector = raw["detector"]
        if detector not in DETECTORS:
            raise fail(
                f"{label}: unknown detector {detector!r} (known: "
                + ", ".join(sorted(DETECTORS))
                + ")",
                line,
            )
        matcher = DETECTORS[detector]
    elif "pattern" in raw:
        pattern = raw["pattern"]
        if not isinstance(pattern, str) or not pattern:
            raise fail(f"{label}: pattern must be a non-empty string", line)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise fail(f"{label}: invalid pattern {pattern!r}: {exc}", line) from exc
        if compiled.search("") is not None:
            raise fail(f"{label}: pattern {pattern!r} matches empty text", line)
        matcher = _regex_matcher(compiled)
    else:
        value = raw["keywords"]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise fail(f"{label}: keywords must be a list of non-empty strings", line)
        keywords = tuple(v.strip() for v in value)
        alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
        matcher = _regex_matcher(re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE))
    return Rule(
        name=name.strip(),
        action=action,
        direction=direction,
        reason=reason.strip(),
        detector=detector,
        pattern=pattern,
        keywords=keywords,
        line=line,
        _matcher=matcher,
    )


def _regex_matcher(compiled: re.Pattern[str]) -> Callable[[str], list[str]]:
    def match(text: str) -> list[str]:
        return [m.group() for m in compiled.finditer(text)]

    return match


def _header_lines(source: str, header: str) -> list[int]:
    """1-based line numbers where a table header occurs (outside multi-line strings)."""
    lines = []
    in_string: str | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if in_string is None and stripped.split("#")[0].strip() == header:
            lines.append(number)
        for quote in ('"""', "'''"):
            count = line.count(quote)
            if in_string in (None, quote) and count % 2 == 1:
                in_string = quote if in_string is None else None
    return lines
