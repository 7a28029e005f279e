"""The WhatsApp side of the service.

- :mod:`bot.whatsapp.client`: ``CloudApiClient``, the Cloud API adapter (``WhatsAppSender``:
  send text/media/template, mark as read; media resolve and streamed download).
- :mod:`bot.whatsapp.webhook`: ``GET``/``POST /api/whatsapp`` and ``setup_whatsapp(app)``, which
  also puts the client under ``app[WHATSAPP_CLIENT]`` and runs the media worker.
- :mod:`bot.whatsapp.media`: media capture with a durable pending list under
  ``state/media-pending/``.

The payload -> record mapping itself is the pure :mod:`bridge.convert.whatsapp`.
"""
