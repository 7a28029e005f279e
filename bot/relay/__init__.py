"""The relay between WhatsApp contacts and their Teams threads (DESIGN.md §3.5)."""
