"""The loopback fake of Meta's Graph API (it lives in ``bot.loopback`` so that ``wabridge demo``
can use it too) and its pytest fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.loopback.deliveries import (  # noqa: F401 - re-exported for the tests
    chunks_of,
    delivery,
    encode_payload,
    error_131047,
    post_webhook,
    sign_body,
    status_delivery,
    text_delivery,
)
from bot.loopback.meta_graph import (  # noqa: F401 - re-exported for the tests
    API_VERSION,
    ERROR_MESSAGES,
    ROUTES,
    Failure,
    MetaGraphFake,
    RecordedRequest,
    StoredMedia,
)


@pytest.fixture
async def meta_graph() -> AsyncIterator[MetaGraphFake]:
    """A running fake Graph API; point ``WHATSAPP_GRAPH_URL`` at ``meta_graph.base_url``."""
    fake = MetaGraphFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
