"""Synthetic but realistic archive records: many conversations with a long tail, both sides,
statuses, reactions, policy flags and media. Deterministic for a given seed."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bridge.ids import event_key, make_conversation_id
from bridge.record import Attachment, Flag, Party, Record, rfc3339

BUSINESS_PNID = "106540352242922"
BUSINESS_NUMBER = "+15550100200"

_COMMON = (
    "the a to and of you for is on in it we i be this that with your can please will have "
    "thanks ok yes no hi hello are at me our as by from not so just call tomorrow today"
).split()
_BUSINESS = (
    "invoice payment account transfer portfolio bond equity fund statement meeting contract "
    "policy claim premium renewal quote order shipment delivery refund balance interest rate "
    "mortgage loan deposit wire swift iban trade settlement margin dividend coupon yield "
    "maturity risk compliance document signature passport address proof review approval "
    "deadline schedule report update question answer details confirm cancel urgent asap"
).split()
_NAMES = (
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
    "sybil trent victor walter"
).split()
_SURNAMES = (
    "smith jones brown taylor wilson davies evans thomas johnson roberts walker wright".split()
)


def _long_tail_words(rng: random.Random, count: int) -> list[str]:
    syllables = "ka lo mi ne ru sa te vo zu bra cle dri fro gla ple qui sto tra xen".split()
    out: list[str] = []
    while len(out) < count:
        out.append("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return out


@dataclass
class World:
    """The people and vocabulary of a synthetic firm."""

    seed: int
    contacts: list[tuple[str, str]]  # (wa_id, name)
    employees: list[tuple[str, str, str]]  # (object id, upn, name)
    vocabulary: list[str]
    media: list[tuple[str, bytes, str, str]] = field(default_factory=list)  # sha, bytes, mime, name
    start: datetime = datetime(2024, 12, 1, tzinfo=UTC)
    days: int = 730

    @classmethod
    def make(cls, n_records: int, seed: int = 7, media_pool: int = 40) -> World:
        rng = random.Random(seed)
        n_contacts = max(5, n_records // 40)
        contacts = []
        for i in range(n_contacts):
            wa_id = f"44770{i:07d}"
            contacts.append(
                (wa_id, f"{rng.choice(_NAMES).title()} {rng.choice(_SURNAMES).title()}")
            )
        employees = []
        for i in range(max(3, min(200, n_records // 500))):
            first, last = rng.choice(_NAMES), rng.choice(_SURNAMES)
            oid = str(uuid.UUID(int=rng.getrandbits(128)))
            employees.append(
                (oid, f"{first}.{last}{i}@contoso.com", f"{first.title()} {last.title()}")
            )
        vocab = _COMMON + _BUSINESS + _long_tail_words(rng, 5000)
        media = []
        for i in range(media_pool):
            kind = i % 3
            body = f"synthetic media {seed}-{i} ".encode() * (20 + i)
            mime, name = [
                ("image/jpeg", f"photo-{i}.jpg"),
                ("application/pdf", f"statement-{i}.pdf"),
                ("audio/ogg", f"voice-{i}.ogg"),
            ][kind]
            media.append((hashlib.sha256(body).hexdigest(), body, mime, name))
        return cls(seed, contacts, employees, vocab, media)

    def sentence(self, rng: random.Random) -> str:
        n = rng.randint(3, 18)
        words = []
        for _ in range(n):
            r = rng.random()
            if r < 0.55:
                words.append(rng.choice(_COMMON))
            elif r < 0.85:
                words.append(rng.choice(_BUSINESS))
            else:  # a long tail: some words are rare
                words.append(
                    self.vocabulary[len(_COMMON) + len(_BUSINESS) + int(5000 * rng.random() ** 2)]
                )
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice([".", "?", "!", ""])


def records(world: World, n: int, seed: int | None = None) -> Iterator[tuple[Record, str]]:
    """``n`` sealed records with their dedupe keys, in no particular order."""
    rng = random.Random(world.seed if seed is None else seed)
    n_contacts = len(world.contacts)
    last_outbound: dict[int, str] = {}
    for i in range(n):
        # Long tail: a few contacts talk a lot, most talk a little.
        c = int(n_contacts * rng.random() ** 3)
        wa_id, contact_name = world.contacts[c]
        conversation = make_conversation_id(BUSINESS_PNID, wa_id)
        moment = world.start + timedelta(seconds=rng.random() * world.days * 86400)
        sent_at = rfc3339(moment)
        captured = rfc3339(moment + timedelta(milliseconds=rng.randint(50, 3000)))
        contact = Party(id=wa_id, name=contact_name, platform="whatsapp")
        business = Party(id=BUSINESS_NUMBER, name="Contoso", platform="whatsapp")
        oid, upn, emp_name = world.employees[c % len(world.employees)]
        employee = Party(id=oid, name=emp_name, platform="teams", upn=upn)
        wamid = "wamid." + hashlib.sha256(f"{world.seed}/{seed}/{i}".encode()).hexdigest()[:40]
        roll = rng.random()
        flags: tuple[Flag, ...] = ()
        attachments: tuple[Attachment, ...] = ()
        if roll < 0.36:
            kind, platform, direction, rtype = "message", "whatsapp", "inbound", "text"
            sender, recipients = contact, (business,)
        elif roll < 0.70:
            kind, platform, direction, rtype = "message", "teams", "outbound", "text"
            sender, recipients = employee, (contact,)
            last_outbound[c] = wamid
        elif roll < 0.90:
            kind, platform, direction, rtype = "status", "whatsapp", "outbound", None
            sender, recipients = business, (contact,)
        elif roll < 0.95:
            kind, platform, direction, rtype = "reaction", "whatsapp", "inbound", "reaction"
            sender, recipients = contact, (business,)
        else:
            kind, platform, direction, rtype = "message", "whatsapp", "inbound", "image"
            sender, recipients = contact, (business,)
            sha, body, mime, name = world.media[rng.randrange(len(world.media))]
            attachments = (
                Attachment(
                    sha256=sha,
                    mime_type=mime,
                    size=len(body),
                    filename=name,
                    caption=None,
                    blob=f"media/{sha[:2]}/{sha}",
                ),
            )
        text = None
        status = None
        if kind == "message":
            text = world.sentence(rng)
            if rng.random() < 0.02:
                flags = (Flag("promissory", "flag", "Promissory language"),)
                text += " guaranteed returns"
        elif kind == "status":
            status = rng.choice(["sent", "delivered", "read"])
        elif kind == "reaction":
            text = rng.choice(["👍", "❤️", "😂", ""])
        record = Record(
            conversation=conversation,
            platform=platform,
            direction=direction,
            kind=kind,
            type=rtype,
            source_id=wamid,
            sent_at=sent_at,
            captured_at=captured,
            sender=sender,
            recipients=recipients,
            text=text,
            attachments=attachments,
            relates_to=last_outbound.get(c) if kind == "status" else None,
            flags=flags,
            raw={"synthetic": True, "n": i},
            status=status,
        ).sealed(captured)
        yield record, event_key("synthetic", world.seed, seed, i)
