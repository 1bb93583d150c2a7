"""Preservation: the store, the catalogue, custody, manifests, the commit protocol and the CLI.

Rooms, bottom to top: ``store`` and ``formats``; ``catalogue``; ``runtime``; ``custody``;
``pipeline`` and ``reindex``; ``presentation``, ``queries`` and ``cli``.
"""
