"""Webhook security: forged signatures, a signed body replayed with alterations, and secrets
that never appear in the service's log or in any answer it gives."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import aiohttp

from tests.fakes.meta_graph import delivery, encode_payload, sign_body, text_delivery
from tests.faults.harness import (
    ACCESS_TOKEN,
    APP_PASSWORD,
    APP_SECRET,
    PNID,
    VERIFY_TOKEN,
    service_env,
    start_service,
    tracebacks,
)
from tests.support.processes import clean_env, wabridge


def forged_signatures(body: bytes) -> dict[str, str]:
    good = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "wrong secret": sign_body(body, "not-the-app-secret"),
        "sha1 scheme": "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest(),
        "bare hex": good,
        "truncated": "sha256=" + good[:-2],
        "one digit changed": "sha256=" + good[:-1] + ("0" if good[-1] != "0" else "1"),
        "empty": "sha256=",
        "not ascii": "sha256=" + "é" * 64,
        "signature of the empty body": sign_body(b"", APP_SECRET),
    }


async def test_forged_and_altered_replays_are_refused_and_secrets_never_leak(
    meta_graph, tmp_path
) -> None:
    archive = tmp_path / "archive"
    meta_graph.access_token = ACCESS_TOKEN
    env = service_env("", "", meta_graph.base_url, ARCHIVE_URL=str(archive))
    for key in ("AZURE_STORAGE_CONNECTION_STRING", "ARCHIVE_CONTAINER"):
        env.pop(key)
    service = await start_service(tmp_path, env)
    answers: list[str] = []
    url = service.url + "/api/whatsapp"

    async def post(session: aiohttp.ClientSession, body: bytes, signature: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        async with session.post(url, data=body, headers=headers) as response:
            answers.append(await response.text() + json.dumps(dict(response.headers)))
            return response.status

    genuine = encode_payload(
        text_delivery(PNID, "15551230001", "transfer 100 to account A", wamid="wamid.SEC/1+a==")
    )
    signature = sign_body(genuine, APP_SECRET)
    try:
        async with aiohttp.ClientSession() as session:
            for name, forged in forged_signatures(genuine).items():
                assert await post(session, genuine, forged) == 403, name
            assert await post(session, genuine, None) == 401
            # The genuine signature replayed over altered bodies.
            altered = [
                genuine.replace(b"account A", b"account B"),
                genuine.replace(b"wamid.SEC/1+a==", b"wamid.SEC/2+a=="),
                genuine + b" ",
                b" " + genuine,
                genuine[:-1],
                json.dumps(json.loads(genuine), indent=1).encode(),  # same JSON, other bytes
            ]
            for body in altered:
                assert await post(session, body, signature) == 403, body[:60]
            # The genuine delivery, replayed as is: accepted, archived once.
            for _ in range(3):
                assert await post(session, genuine, signature) == 200
            # Requests that make the service log or refuse: handshake with a wrong token,
            # oversize, not JSON, deep nesting, and media whose download fails.
            async with session.get(
                service.url + "/api/whatsapp",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": VERIFY_TOKEN[:-1] + "x",
                    "hub.challenge": "1158201444",
                },
            ) as response:
                answers.append(await response.text())
                assert response.status == 403
            for body in (b"x" * (3 * 1024 * 1024 + 1), b"{nope", b"[" * 5000 + b"]" * 5000):
                assert await post(session, body, sign_body(body, APP_SECRET)) in (400, 413)
            item = meta_graph.add_media(b"%PDF-1.7 statement", "application/pdf")
            meta_graph.fail_downloads(item.media_id, times=2)
            media = encode_payload(
                delivery(
                    PNID,
                    {
                        "messages": [
                            {
                                "from": "15551230001",
                                "id": "wamid.SEC/doc",
                                "timestamp": "1764350000",
                                "type": "document",
                                "document": {
                                    "id": item.media_id,
                                    "mime_type": "application/pdf",
                                    "filename": "s.pdf",
                                    "sha256": base64.b64encode(
                                        bytes.fromhex(item.sha256_hex)
                                    ).decode(),
                                },
                            }
                        ]
                    },
                )
            )
            assert await post(session, media, sign_body(media, APP_SECRET)) == 200
            for _ in range(200):
                if (
                    meta_graph.downloads.get(item.media_id, 0) >= 1
                    and (archive / "media" / item.sha256_hex[:2] / item.sha256_hex).exists()
                ):
                    break
                await asyncio.sleep(0.1)
    finally:
        service.stop()

    records = [json.loads(p.read_bytes()) for p in (archive / "records").rglob("*.json")]
    assert sorted(r["source_id"] for r in records) == ["wamid.SEC/1+a==", "wamid.SEC/doc"]
    log = service.log.read_text(errors="replace")
    assert "webhook refused: bad signature" in log  # the refusals are logged ...
    cli = wabridge(
        "archive", "search", "--json", cwd=tmp_path, env=clean_env(ARCHIVE_URL=str(archive))
    )
    for secret in (APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN, APP_PASSWORD):
        assert secret not in log  # ... but never a secret,
        assert not [a for a in answers if secret in a]  # nor in any answer,
        assert secret not in cli.stdout + cli.stderr  # nor in the archive.
    assert not tracebacks(service.log)
