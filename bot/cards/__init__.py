"""What the bot shows in Teams, rendered as Bot Framework activities (plain dicts).

- :mod:`bot.cards.posts`: relayed WhatsApp messages, status lines, notices, help.
- :mod:`bot.cards.policy`: the policy card with its Accept button.

Neutral ground: both the core (which renders, and archives what it posted) and the Teams
transport (which sends) use these; they import nothing of either.
"""
