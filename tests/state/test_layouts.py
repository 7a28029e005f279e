"""State documents as existing deployments hold them: every layout an earlier version wrote is
read, and what is written back keeps the keys earlier versions read."""

from __future__ import annotations

import pytest

from bot.capture.media import PendingMedia
from bot.relay.state import (
    ContactThread,
    FeedCursor,
    InboxBinding,
    MediaKey,
    ParkedQueue,
    SentCard,
    ThreadIndex,
)
from bridge.governance.acknowledgements import AcksDoc, HeldDoc
from bridge.governance.registry import UsersDoc
from bridge.readside.hold import HoldsDoc
from bridge.state import Lease

#: One document of each kind, exactly as the previous version of the service wrote it.
EARLIER = {
    InboxBinding: {
        "channel_id": "19:inbox@thread.tacv2",
        "team_id": "19:team@thread.tacv2",
        "tenant_id": "t1",
        "service_url": "https://smba.trafficmanager.net/emea/",
        "bot_id": "28:bot",
        "bot_name": "wabridge",
        "bound_by": "oid-1",
        "bound_at": "2026-11-28T10:00:00.000Z",
    },
    ContactThread: {
        "conversation": "wa:1:2",
        "wa_id": "2",
        "thread_id": "19:inbox;messageid=9",
        "root_activity_id": "9",
        "channel_id": "19:inbox",
        "service_url": "https://s/",
        "tenant_id": "t1",
        "bot_id": "28:bot",
        "created_at": "2026-11-28T10:00:00.000Z",
        "created_by": "instance-a",
    },
    ThreadIndex: {"conversation": "wa:1:2", "thread_id": "19:inbox;messageid=9"},
    ParkedQueue: {
        "conversation": "wa:1:2",
        "items": [
            {"id": "01A", "name": "records/wa:1:2/2026/11/28/k.json", "attempts": 2},
            {"id": "01B", "record": {"id": "01B"}, "attempts": 0},
        ],
        "lease": {"owner": "inst/abc", "until": 1764350000.5},
    },
    SentCard: {
        "wamid": "wamid.X",
        "thread_id": "19:inbox;messageid=9",
        "activity_id": "11",
        "to": "+2",
        "conversation": "wa:1:2",
        "record_id": "01C",
        "status": "delivered",
        "service_url": "https://s/",
        "tenant_id": "t1",
        "bot_id": "28:bot",
    },
    FeedCursor: {
        "segments": {"ledger/2026-11-28/w-000001.jsonl": 520},
        "complete_before": "2026-11-25",
        "lease": {"owner": "instance-a", "until": 1764350060.0},
    },
    MediaKey: {"key": "c2VjcmV0"},
    PendingMedia: {
        "sha256": "ab" * 32,
        "media_id": "123",
        "mime_type": "image/jpeg",
        "record_id": "01D",
        "record_name": None,
        "conversation": "wa:1:2",
        "created_at": "2026-11-28T10:00:00.000Z",
        "attempts": 1,
        "next_attempt_at": "2026-11-28T10:00:05.000Z",
        "last_error": "timeout",
        "lease_until": "2026-11-28T10:10:00.000Z",
        "mismatches": 0,
    },
    UsersDoc: {
        "schema": "wabridge.users/1",
        "revision": 3,
        "pending_audit": [],
        "users": {
            "oid-1": {
                "object_id": "oid-1",
                "upn": "ana@contoso.com",
                "name": "Ana",
                "added_by": "cli",
                "added_at": "2026-11-28T10:00:00.000Z",
                "source": "manual",
            }
        },
    },
    AcksDoc: {
        "object_id": "oid-1",
        "versions": {
            "2026-11": {
                "at": "2026-11-28T10:00:00.000Z",
                "text_sha256": "cd" * 32,
                "record_id": "01E",
            }
        },
    },
    HeldDoc: {
        "object_id": "oid-1",
        "messages": [
            {
                "id": "01F",
                "held_at": "2026-11-28T10:00:00.000Z",
                "dedupe_key": "a:1",
                "policy_version": "2026-11",
                "held": {"text": "hi"},
            }
        ],
        "released": [{"id": "01G", "dedupe_key": "a:0", "released_at": "2026-11-27T10:00:00Z"}],
    },
    HoldsDoc: {
        "holds": [
            {
                "id": "01H",
                "case": "Doe",
                "conversation": "wa:1:2",
                "participant": None,
                "created_at": "2026-11-28T10:00:00.000Z",
                "created_by": "officer",
                "cleared_at": None,
                "cleared_by": None,
            }
        ],
    },
}


@pytest.mark.parametrize("kind", list(EARLIER), ids=lambda k: k.__name__)
def test_an_earlier_layout_is_read_and_written_back_with_the_keys_it_had(kind):
    earlier = EARLIER[kind]
    doc = kind.from_dict(earlier)
    written = doc.to_dict()
    assert set(earlier) <= set(written)
    assert kind.from_dict(written) == doc
    for key, value in earlier.items():
        if key not in ("lease_until",):  # an RFC 3339 time, written back in one precision
            assert written[key] == value, key


def test_a_thread_being_started_is_the_claim_earlier_versions_wrote():
    claim = {"conversation": "wa:1:2", "wa_id": "2", "claim": "tok", "claimed_until": 1e12}
    thread = ContactThread.from_dict(claim)
    assert not thread.started and thread.claim == Lease("tok", 1e12)
    assert thread.to_dict() == claim
    dropped = ContactThread.from_dict({"claim": None, "claimed_until": 0})
    assert not dropped.started and not dropped.claim.held(0)


def test_a_pending_medias_lease_is_kept_as_earlier_versions_read_it():
    item = PendingMedia.from_dict(EARLIER[PendingMedia])
    assert item.lease.held(item.lease.until - 1)
    assert item.to_dict()["lease_until"] == "2026-11-28T10:10:00.000Z"
    free = PendingMedia.from_dict({**EARLIER[PendingMedia], "lease_until": None})
    assert free.lease == Lease() and free.to_dict()["lease_until"] is None
    assert b"lease_owner" not in item.to_json()  # ``archive pending --json`` prints what it did
