"""wabridge service: the Bot Framework app, the WhatsApp webhook, the relay and the CLI."""
