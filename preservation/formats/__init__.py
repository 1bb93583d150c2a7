"""Preservation formats: the provenance manifest and its JSON Schema."""
