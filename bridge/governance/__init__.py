"""Governance that needs only the archive: user registry, policy file, lexicon, contacts, reports.

The service's gate (``bot.governance``) and the CLI build on these; nothing here imports ``bot``.
"""
