"""Waiting for something the loopback world will do soon (the demo, and tests driving it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def eventually(
    predicate: Callable[[], Any],
    *,
    limit: float = float("inf"),
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Call ``predicate`` (plain or async) until it gives a truthy value, and return that value.

    Raises ``TimeoutError`` naming ``what`` once ``limit`` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
