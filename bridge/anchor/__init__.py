"""Tamper evidence that does not vouch for itself (DESIGN.md §3.8).

The ledger proves order and completeness only if a copy of its state lives where whoever can
write the archive cannot rewrite it. A *checkpoint* is that copy: the archive's id, the time,
and for every ledger segment its length and head hash, itself hashed. The service writes one
every few minutes into an *anchor* (an immutable Azure container, or a directory outside the
archive); ``archive verify`` checks the archive against every checkpoint it finds there and
against any kept elsewhere.

- :mod:`bridge.anchor.identity` — the archive's id (``archive.json``).
- :mod:`bridge.anchor.segments` — a ledger segment's state: bytes, entries, head hash.
- :mod:`bridge.anchor.checkpoint` — the checkpoint document and how one is computed.
- :mod:`bridge.anchor.store` — where checkpoints are kept (create-only, named by time).
- :mod:`bridge.anchor.writer` — the service's periodic checkpoint writer.
- :mod:`bridge.anchor.check` — the archive checked against checkpoints (``archive verify``).
- :mod:`bridge.anchor.protection` — what protects the bytes in Azure (immutability, holds).
"""
