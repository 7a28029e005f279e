"""What an inbound WhatsApp message looks like in Teams: media inline or as file cards, served
by our own authenticated link from the archive; locations, reactions and contact cards."""

from __future__ import annotations

import re

from bot.relay.state import teams_thread_doc
from tests.relay.support import read_json, wait_for
from tests.whatsapp.fixtures import load, media_bytes

ANA = "15555550123"


def media_id(payload):
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    return message[message["type"]]["id"]


async def test_media_location_reaction_and_contacts_show_in_the_contacts_thread(world):
    service = await world.start_service()
    await world.setup_inbox(service)
    for kind, mime in (("image", "image/jpeg"), ("document", "application/pdf")):
        world.meta.add_media(media_bytes(kind), mime, media_id=media_id(load(kind)))

    for name in ("image", "document", "location", "contacts", "reaction"):
        assert await world.deliver(service, load(name)) == 200
    await wait_for(
        lambda: (
            world.connector.threads
            and sum(len(world.connector.posts_in(t)) for t in world.connector.threads) == 5
        ),
        what="five posts",
    )
    (thread,) = world.connector.threads
    image, document, location, contacts, reaction = world.connector.posts_in(thread)

    assert "Ana Pereira (+15555550123)" in image.shown_text()
    (card,) = image.activity["attachments"]
    (picture, caption) = card["content"]["body"]
    assert picture["type"] == "Image" and caption["text"] == "Signed form"
    assert "statement-q3.pdf" in document.shown_text()
    (download,) = document.activity["attachments"][0]["content"]["actions"]
    assert download["type"] == "Action.OpenUrl"
    assert "openstreetmap.org/?mlat=" in location.shown_text()
    assert contacts.shown_text().strip() != "" and "reacted" in reaction.shown_text()

    # The links are ours, serve the archived bytes, and cannot be altered.
    async def fetch(url):
        async with world.session.get(url) as resp:
            return resp.status, await resp.read(), resp.headers.get("Content-Disposition", "")

    assert picture["url"].startswith(service.url + "/api/media/")
    status, body, _ = await wait_for(
        lambda: _ok(fetch(picture["url"])), what="image archived and served"
    )
    assert body == media_bytes("image")
    status, body, disposition = await wait_for(
        lambda: _ok(fetch(download["url"])), what="document served"
    )
    assert body == media_bytes("document") and "statement-q3.pdf" in disposition
    forged = re.sub(r"sig=[^&]+", "sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", picture["url"])
    assert (await fetch(forged))[0] == 403
    other_media = download["url"].split("?")[0] + "?" + picture["url"].split("?")[1]
    assert (await fetch(other_media))[0] == 403
    assert await read_json(service.archive.store, teams_thread_doc(thread))


async def _ok(pending):
    result = await pending
    return result if result[0] == 200 else None
