"""``make demo``: witnessbox end to end on bundled sample sources served on 127.0.0.1."""
