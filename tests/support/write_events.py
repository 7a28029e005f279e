"""A writer process for concurrency tests: archives the same N made-up events, prints a count."""

from __future__ import annotations

import asyncio
import json
import sys

from bot.settings import ArchiveSettings, load_environment
from bridge.archive import Archive
from tests.support.records import inbound_text


async def main(count: int) -> None:
    archive = Archive(ArchiveSettings.from_env(load_environment()).open_store())
    await archive.store.ensure_ready()
    try:
        results = await asyncio.gather(*(archive.put(inbound_text(i)) for i in range(count)))
    finally:
        await archive.close()
    print(json.dumps({"created": sum(r.created for r in results)}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
