"""``wabridge demo``: the whole product locally, with loopback stand-ins for Meta and Teams."""
