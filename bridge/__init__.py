"""wabridge archive bridge: the unified record, storage backends, tamper evidence and read side."""
