"""Preservation: settings, storage, catalogue, manifests, pipeline and the CLI."""

__version__ = "0.1.0"
