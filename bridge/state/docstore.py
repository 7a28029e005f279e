"""Typed state documents in the archive's store, changed by ETag read-modify-write.

A state document is a small JSON object under ``state/`` (a contact's thread, a queue, a
cursor, a registry). Each kind is a dataclass with ``to_dict``/``from_dict``; a
:class:`DocStore` reads and writes documents of one kind. :meth:`DocStore.update` is the only
way a document changes: it reads the document with its ETag, applies a pure function to it and
writes the result only if nobody wrote in between, retrying a bounded number of times.

Documents are written as canonical JSON (sorted keys, UTF-8, compact). Every document layout
stays readable by earlier versions of the service: a ``from_dict`` accepts what earlier
versions wrote, and a ``to_dict`` writes the keys they read.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from bridge.errors import ConcurrentUpdate
from bridge.record import canonical_json
from bridge.store.base import ArchiveStore

#: Attempts of one update before giving up on a document that keeps changing under us.
MAX_ATTEMPTS = 20


class StateDoc(Protocol):
    """What a kind of state document provides."""

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any: ...


D = TypeVar("D", bound=StateDoc)


class UnreadableDoc(ValueError):
    """A state document that is not valid JSON or not of the expected layout."""


class DocStore(Generic[D]):
    """The documents of one kind (``kind``: a class with ``to_dict``/``from_dict``)."""

    def __init__(self, store: ArchiveStore, kind: type[D], *, attempts: int = MAX_ATTEMPTS) -> None:
        self.store = store
        self.kind = kind
        self.attempts = attempts

    def decode(self, name: str, data: bytes) -> D:
        try:
            value = json.loads(data)
            if not isinstance(value, dict):
                raise TypeError("not a JSON object")
            return self.kind.from_dict(value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise UnreadableDoc(f"{name}: unreadable state document ({exc})") from exc

    async def get(self, name: str) -> D | None:
        """The document, or None if there is none."""
        doc, _etag = await self.read(name)
        return doc

    async def read(self, name: str) -> tuple[D | None, str | None]:
        """The document and its ETag (``(None, None)`` if there is none)."""
        stored = await self.store.get_doc(name)
        if stored is None:
            return None, None
        return self.decode(name, stored.data), stored.etag

    async def create(self, name: str, doc: D) -> bool:
        """Write ``doc`` only if there is no document yet; False if another writer was first."""
        try:
            await self.store.put_doc(name, canonical_json(doc.to_dict()), etag=None)
        except ConcurrentUpdate:
            return False
        return True

    async def put(self, name: str, doc: D) -> None:
        """Set the document to ``doc`` whatever it held (the last writer wins)."""
        await self.update(name, lambda _current: doc)

    async def update(
        self, name: str, change: Callable[[D | None], D | None], *, attempts: int | None = None
    ) -> D | None:
        """Read-modify-write: ``change`` gets the current document (None if there is none) and
        returns the new one, or None to leave it as it is.

        ``change`` must be pure: it may run several times, each time on a freshly read
        document. Returns the document as stored afterwards. Raises :class:`ConcurrentUpdate`
        when other writers won ``attempts`` times in a row.
        """
        tries = self.attempts if attempts is None else attempts
        for attempt in range(tries):
            current, etag = await self.read(name)
            new = change(current)
            if new is None:
                return current
            try:
                await self.store.put_doc(name, canonical_json(new.to_dict()), etag=etag)
            except ConcurrentUpdate:
                if attempt + 1 < tries:
                    await asyncio.sleep(random.uniform(0, min(0.01 * (attempt + 1), 0.2)))
                continue
            return new
        raise ConcurrentUpdate(f"{name} kept changing; gave up after {tries} attempts")

    async def delete_if(self, name: str, predicate: Callable[[D], bool]) -> bool:
        """Remove the document if ``predicate`` holds for it and nobody changed it meanwhile."""
        current, etag = await self.read(name)
        if current is None or not predicate(current):
            return False
        try:
            await self.store.delete_doc(name, etag=etag)
        except ConcurrentUpdate:
            return False
        return True

    async def names(self, prefix: str) -> list[str]:
        """The names of the documents under ``prefix``, in name order."""
        return [info.name async for info in self.store.list(prefix)]
