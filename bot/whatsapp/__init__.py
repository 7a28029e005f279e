"""The WhatsApp side of the service (a transport: it verifies, parses and hands on).

- :mod:`bot.whatsapp.webhook`: ``GET``/``POST /api/whatsapp``; deliveries go to the core's
  ``InboundIngest`` port (``bot/capture``).
- :mod:`bot.whatsapp.client`: ``CloudApiClient``, the Cloud API adapter (the ``WhatsAppSender``
  and ``MediaFetcher`` ports: send text/media/template, mark as read; media resolve and
  streamed download).

The payload -> record mapping itself is the pure :mod:`bridge.convert.whatsapp`.
"""
