"""The two byte-exact JSON spellings witnessbox hashes and signs.

A digest is only reproducible if everyone writes the same bytes for the same value, so
there is one function per spelling and no ``json.dumps`` with its own options elsewhere:

- ``compact_json``: no whitespace, keys sorted, UTF-8 (ledger entries and their hashes,
  Telegram message content hashes, staged message JSON);
- ``canonical_json``: keys sorted, one space of indent, a final newline (manifests, seal
  records and proofs: stable bytes that a person can still read).
"""

from __future__ import annotations

import json
from typing import Any


def compact_json(value: Any, *, sort_keys: bool = True) -> bytes:
    """``value`` as compact UTF-8 JSON (keys sorted unless the order is itself evidence)."""
    return json.dumps(
        value, sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def canonical_json(value: Any) -> bytes:
    """``value`` as sorted, indented UTF-8 JSON with a final newline."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1, separators=(",", ": "))
    return (text + "\n").encode("utf-8")
