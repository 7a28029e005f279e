"""The loopback Bot Connector (shared with ``wabridge demo``, so it lives in the package)."""

from bot.loopback.connector import FakeBotConnector, Post, TeamsUser, post_activity

__all__ = ["FakeBotConnector", "Post", "TeamsUser", "post_activity"]
