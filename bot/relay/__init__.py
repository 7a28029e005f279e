"""The relay core between WhatsApp and Teams. It talks only to the ports (``bot/ports.py``).

WhatsApp -> Teams (records already archived):

- :mod:`bot.relay.worker`: the in-process hand-off and the ledger follower; per-contact order.
- :mod:`bot.relay.feed`: the ledger cursor and the lease of the one instance following it.
- :mod:`bot.relay.lanes`: each contact's records one after another, contacts side by side.
- :mod:`bot.relay.posting`: one record shown in its contact's thread (or a status card updated).
- :mod:`bot.relay.threads`: contact <-> thread, and the claim that starts a thread once.
- :mod:`bot.relay.parked`: what could not be shown yet, kept per contact and retried.

Teams -> WhatsApp and the employees' commands:

- :mod:`bot.relay.employees`: setup, replies, ``new``, edits, Accept (the Teams handler's core).
- :mod:`bot.relay.outbound`: an employee's message archived, gated, sent and reported.

Shared: :mod:`bot.relay.state` (the state documents), :mod:`bot.relay.inbox` (the bound
inbox), :mod:`bot.relay.media_links` (signed media links), :mod:`bot.relay.templates`
(approved templates) and :mod:`bot.relay.backlog` (what has not reached Teams yet).
"""
