"""The Microsoft Teams side: Bot Framework adapter, activity handler, cards, proactive posts."""
