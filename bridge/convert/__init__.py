"""Pure converters: source payloads to archive records (no I/O)."""
