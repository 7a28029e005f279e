"""The read side of the archive: what compliance officers do with it.

- :mod:`bridge.readside.query`: a query (``RecordQuery``) and the pure matcher every search
  must equal; :mod:`bridge.readside.scan`: selecting by reading the records themselves.
- :mod:`bridge.readside.index`: the search index kept in step with the ledger.
- :mod:`bridge.readside.audit`: who is reading; every read leaves an ``audit`` record.
- :mod:`bridge.readside.reads`: the audited operations the CLI offers (search, show, export,
  stats, retention) and :mod:`bridge.readside.hold` legal holds.
- :mod:`bridge.readside.export`: EML, HTML and JSONL exports with a manifest.
- :mod:`bridge.readside.retention`: what is past retention and on no hold.

Tamper evidence (``archive verify``) stays beside the ledger it checks, in :mod:`bridge.verify`.
"""
