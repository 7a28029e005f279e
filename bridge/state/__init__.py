"""Mutable state beside the archive: typed JSON documents under ``state/`` and leases in them.

- :mod:`bridge.state.docstore`: :class:`DocStore`, the one ETag read-modify-write of a state
  document (bounded retries when another writer wins).
- :mod:`bridge.state.lease`: :class:`Lease` (owner, expiry) and :class:`LeaseKeeper`, which
  takes, renews and releases a lease kept inside a document.

Records and media are immutable and never go through here; state documents (thread map,
registries, cursors, queues) are the only things the application changes.
"""

from bridge.state.docstore import DocStore, StateDoc, UnreadableDoc
from bridge.state.lease import Lease, LeaseKeeper, LeaseLost

__all__ = ["DocStore", "Lease", "LeaseKeeper", "LeaseLost", "StateDoc", "UnreadableDoc"]
