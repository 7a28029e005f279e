"""The Microsoft Teams side of the service (a transport: it verifies, parses and hands on).

- :mod:`bot.teams.adapter`: the Bot Framework adapter and ``POST /api/messages`` (JWT, tenant).
- :mod:`bot.teams.handler`: activities parsed and handed to the core's ``TeamsActions``.
- :mod:`bot.teams.sender`: the ``TeamsPoster`` port over the Bot Connector REST API.
- :mod:`bot.teams.files`: the ``TeamsFiles`` port: employees' attachments downloaded.
- :mod:`bot.teams.media_route`: ``GET /api/media/{sha256}``, the media behind signed links.
"""
