"""Capture: inbound WhatsApp deliveries made durable in the archive before they are answered.

- :mod:`bot.capture.ingest`: records flagged, archived and handed on (the in-process hand-off
  to the relay), within the acknowledgement budget.
- :mod:`bot.capture.media`: media fetched at once and stored once, or kept pending durably.
"""
