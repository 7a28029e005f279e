"""Small archives for the read-side tests: synthetic records plus hand-made edge cases."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

from bench.search import generate
from bench.synth import BUSINESS_NUMBER, BUSINESS_PNID, World
from bot.cli import main
from bridge.archive import Archive, dedupe_key_for
from bridge.ids import make_conversation_id
from bridge.record import Attachment, Flag, Party, Record

CONTACT = "447700900123"
CONV = make_conversation_id(BUSINESS_PNID, CONTACT)
EMPLOYEE = Party(
    id="6f1c2b9e-0d4a-4c1e-9a57-3b2f1d0e8c11",
    name="Dana Trader",
    platform="teams",
    upn="Dana.Trader@contoso.com",
)


def _png(width: int = 96, height: int = 64, pixel=None) -> bytes:
    """A real PNG, so a browser shows it: a gradient, or ``pixel(x, y) -> (r, g, b)``."""
    import struct
    import zlib

    pixel = pixel or (lambda x, y: (40 + x * 2, 120 + y, 200 - y))
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PHOTO = _png()
CONTRACT = b"%PDF-1.7 contract bytes " * 30
PENDING_SHA = hashlib.sha256(b"never downloaded").hexdigest()


def edge_records() -> list[Record]:
    """Both sides of one conversation, media (one of them pending), flags, non-ASCII text."""
    contact = Party(id=CONTACT, name="Zoë Müller", platform="whatsapp")
    business = Party(id=BUSINESS_NUMBER, name="Contoso", platform="whatsapp")
    photo_sha, contract_sha = (hashlib.sha256(b).hexdigest() for b in (PHOTO, CONTRACT))

    def rec(i: int, **kw) -> Record:
        base = dict(
            conversation=CONV,
            platform="whatsapp",
            direction="inbound",
            kind="message",
            type="text",
            source_id=f"wamid.HBgM{i}Q+/=",
            sent_at=f"2026-10-0{i}T09:00:00.000Z",
            captured_at=f"2026-10-0{i}T09:00:01.000Z",
            sender=contact,
            recipients=(business,),
        )
        base.update(kw)
        return Record(**base).sealed()

    first = rec(1, text="Hallo, können Sie mir das Angebot schicken? Grüße\nZoë")
    reply = rec(
        2,
        platform="teams",
        direction="outbound",
        sender=EMPLOYEE,
        recipients=(contact,),
        source_id="1732780000000",
        reply_to=first.id,
        text="Here is the contract, guaranteed returns of 12%.",
        attachments=(
            Attachment(
                contract_sha,
                "application/pdf",
                len(CONTRACT),
                "Contract 2026 (signed).pdf",
                None,
                f"media/{contract_sha[:2]}/{contract_sha}",
            ),
        ),
        flags=(Flag("promissory", "flag", "Promissory language"),),
    )
    photo = rec(
        3,
        type="image",
        text="my passport",
        attachments=(
            Attachment(
                photo_sha,
                "image/png",
                len(PHOTO),
                "passport.png",
                "my passport",
                f"media/{photo_sha[:2]}/{photo_sha}",
            ),
            Attachment(PENDING_SHA, "application/pdf", 16, "later.pdf"),
        ),
        reply_to="wamid.HBgM1Q+/=",
    )
    status = rec(
        4,
        kind="status",
        type=None,
        direction="outbound",
        status="read",
        sender=business,
        recipients=(contact,),
        relates_to=reply.id,
        text=None,
    )
    policy = rec(
        5,
        kind="policy",
        type="block",
        platform="teams",
        direction="internal",
        sender=EMPLOYEE,
        recipients=(),
        source_id=None,
        text="Blocked: payment card number (rule payment-card)",
    )
    return [first, reply, photo, status, policy]


async def build(archive: Archive, n_synthetic: int = 0, seed: int = 11) -> list[Record]:
    await archive.store.ensure_ready()
    records = edge_records()
    for record in records:
        await archive.put(record, dedupe_key_for(record))
    await archive.put_media_bytes(PHOTO, mime_type="image/png")
    await archive.put_media_bytes(CONTRACT, mime_type="application/pdf")
    if n_synthetic:
        await generate(archive, World.make(n_synthetic, seed=seed, media_pool=5), n_synthetic, 16)
    return records


def build_sync(open_store, n_synthetic: int = 0) -> list[Record]:
    async def go():
        archive = Archive(open_store())
        try:
            return await build(archive, n_synthetic)
        finally:
            await archive.close()

    return asyncio.run(go())


async def all_records(archive: Archive) -> list[dict]:
    return [json.loads(data) async for _name, data in archive.iter_records()]


@contextmanager
def cli_env(location: dict, tmp_path: Path):
    """The environment a CLI run needs for this archive (and a private index cache)."""
    saved = dict(os.environ)
    for key in ("ARCHIVE_URL", "AZURE_STORAGE_CONNECTION_STRING", "ARCHIVE_CONTAINER"):
        os.environ.pop(key, None)
    os.environ.update(location["env"])
    os.environ["WABRIDGE_INDEX_DIR"] = str(tmp_path / "index-cache")
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refusing the arguments
        code = int(exc.code or 0)
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()
