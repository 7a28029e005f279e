"""The webhook payload fixtures in tests/data/whatsapp/ and the media bytes they name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "whatsapp"
PHONE_NUMBER_ID = "106540352242922"
BUSINESS_NUMBER = "15550783881"
ANA = "15555550123"
BEN = "15555550177"
ANA_CONVERSATION = f"wa:{PHONE_NUMBER_ID}:{ANA}"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def names() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.json"))


def media_bytes(kind: str) -> bytes:
    """The bytes whose sha256 the media fixture of ``kind`` announces."""
    return f"wabridge test fixture: {kind} bytes".encode()


def first_message(payload: dict[str, Any]) -> dict[str, Any]:
    value = payload["entry"][0]["changes"][0]["value"]
    for key in ("messages", "message_echoes", "statuses", "errors"):
        if value.get(key):
            return value[key][0]
    raise KeyError("no event in payload")
