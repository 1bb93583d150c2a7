"""The witnessbox command line: the entry point (``main``) and its command modules."""
