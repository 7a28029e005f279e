"""Loopback stand-ins for remote services, for ``wabridge demo`` and the test suite.

They are real aiohttp servers on 127.0.0.1 speaking the documented payloads; the service is
pointed at them through its ordinary configuration (the activity's ``serviceUrl`` for the Bot
Connector, ``WHATSAPP_GRAPH_URL`` for Meta).
"""
