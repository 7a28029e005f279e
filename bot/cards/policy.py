"""The Adaptive Card that asks an employee to accept the WhatsApp policy.

Accept is an ``Action.Submit``: Teams sends a message activity whose ``value`` is the action's
data, ``{"wabridge": "accept_policy", "version": …}``, which the Teams handler passes to
``OutboundGate.accept_policy``; :func:`accepted_version` recognizes it.
"""

from __future__ import annotations

from typing import Any

from bridge.governance.policy import Policy

ACCEPT_ACTION = "accept_policy"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def policy_card(policy: Policy, *, held: bool = True) -> dict[str, Any]:
    """The card content (``AdaptiveCard`` 1.4) showing ``policy`` with an Accept button."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": "WhatsApp acceptable-use policy",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": f"Version {policy.version}",
            "isSubtle": True,
            "spacing": "None",
            "wrap": True,
        },
        {"type": "TextBlock", "text": policy.text, "wrap": True},
    ]
    if held:
        body.append(
            {
                "type": "TextBlock",
                "wrap": True,
                "color": "Attention",
                "text": "Your message has not been sent yet. It will be sent once you accept.",
            }
        )
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "actions": [
            {
                "type": "Action.Submit",
                "title": "Accept",
                "data": {
                    "wabridge": ACCEPT_ACTION,
                    "version": policy.version,
                    "policy_sha256": policy.text_sha256,
                },
            }
        ],
    }


def card_attachment(card: dict[str, Any]) -> dict[str, Any]:
    """The Bot Framework attachment carrying ``card``."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def accepted_version(value: Any) -> str | None:
    """The policy version an Accept click (an activity's ``value``) accepts, else None."""
    if isinstance(value, dict) and value.get("wabridge") == ACCEPT_ACTION:
        version = value.get("version")
        if isinstance(version, str) and version:
            return version
    return None
