"""Webhook deliveries the way Meta makes them: the envelope, text and status payloads, the
``X-Hub-Signature-256`` signature, and posting one to a service.

Used by the Graph API fake's users (tests, ``wabridge demo``, the benchmarks) to play Meta's
side of the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp


def sign_body(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: Any) -> bytes:
    """A payload as Meta sends it (compact JSON, non-ASCII escaped)."""
    return json.dumps(payload, separators=(",", ":")).encode()


async def post_webhook(
    session: aiohttp.ClientSession,
    url: str,
    payload: Any,
    *,
    app_secret: str | None,
    body: bytes | None = None,
    signature: str | None = None,
) -> tuple[int, str]:
    """POST a signed delivery to ``url``; returns ``(status, text)``.

    ``body`` overrides the encoded payload; ``signature`` overrides the computed header;
    ``app_secret=None`` sends no signature at all.
    """
    data = body if body is not None else encode_payload(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif app_secret is not None:
        headers["X-Hub-Signature-256"] = sign_body(data, app_secret)
    async with session.post(url, data=data, headers=headers) as response:
        return response.status, await response.text()


def delivery(
    phone_number_id: str,
    value: dict[str, Any],
    *,
    field_name: str = "messages",
    waba_id: str = "102290129340398",
    display_phone_number: str = "15550783881",
) -> dict[str, Any]:
    """Wrap one ``value`` in Meta's envelope (``object``, ``entry[].changes[]``)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": field_name}]}],
    }


def text_delivery(
    phone_number_id: str,
    wa_id: str,
    text: str,
    *,
    name: str = "Sheena Nelson",
    wamid: str | None = None,
    timestamp: int = 1764350000,
) -> dict[str, Any]:
    """An inbound text message delivery."""
    return delivery(
        phone_number_id,
        {
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": wamid or f"wamid.{wa_id}.{timestamp}",
                    "timestamp": str(timestamp),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        },
    )


def status_delivery(
    phone_number_id: str,
    wamid: str,
    status: str,
    recipient_id: str,
    *,
    timestamp: int = 1764350100,
    errors: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A status webhook (sent/delivered/read/failed) about an outbound message."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if status != "failed":
        item["conversation"] = {"id": "c0ffee" + recipient_id[-6:], "origin": {"type": "service"}}
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "service",
            "type": "regular",
        }
    if errors:
        item["errors"] = list(errors)
    return delivery(phone_number_id, {"statuses": [item]})


def error_131047() -> dict[str, Any]:
    """The ``errors[]`` item of a failed status outside the 24-hour window."""
    return {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {
            "details": "Message failed to send because more than 24 hours have "
            "passed since the customer last replied to this number."
        },
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


async def chunks_of(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
