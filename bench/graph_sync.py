"""Directory sync cost: reading an Entra ID group of N users through msgraph-sdk, against the
loopback fake of Microsoft Graph (100 users a page, the fake's cap, like Graph's default).

Compares the path ``wabridge users sync`` takes (request builders and request adapter, the page
JSON read as bytes) with the SDK's typed models (``UserCollectionResponse``/``User``), whose
construction costs CPU on the service's event loop. Prints figures; asserts nothing.

    .venv/bin/python -m bench.graph_sync [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bot.entra.directory import GraphDirectory, make_credential
from bot.settings import AzureCredentials
from tests.fakes.ms_graph import MsGraphFake, make_users
from tests.support.tls import make_loopback_cert


async def typed_members(directory: GraphDirectory, group: str) -> int:
    builder = directory.client.groups.by_group_id(group).transitive_members.graph_user
    count = 0
    page = await builder.get()
    while page is not None:
        count += len(page.value or [])
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return count


async def main(n: int) -> None:
    cert = make_loopback_cert(Path(tempfile.mkdtemp()))
    async with MsGraphFake(tls=cert) as graph:
        graph.groups["g"] = make_users(n)
        client_id, secret = graph.register_app()
        credential = make_credential(
            AzureCredentials("t", client_id, secret),
            authority=graph.authority_url,
            connection_verify=str(cert.cert_file),
        )
        directory = GraphDirectory(credential, base_url=graph.base_url)
        try:
            await directory.group_members("g")  # warm up: token, imports
            await typed_members(directory, "g")
            for label, run in (
                ("bytes (wabridge)", directory.group_members),
                ("typed SDK models", lambda g: typed_members(directory, g)),
            ):
                started_cpu, started = time.process_time(), time.perf_counter()
                got = await run("g")
                count = got if isinstance(got, int) else len(got)
                cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
                print(
                    f"{label:<18} {count} users: {wall:6.2f} s wall, {cpu:6.2f} s CPU, "
                    f"{1000 * cpu / count:6.3f} ms CPU per user"
                )
        finally:
            await directory.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
