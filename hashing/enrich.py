"""Describe an artifact for its manifest entry: perceptual hashes and embedded metadata.

The pipeline opens one ``Enricher`` per capture (so exiftool runs as one persistent
process for all its media) and asks it to ``describe`` every artifact. Whatever cannot be
hashed or read is recorded with the reason, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any


@dataclass
class Description:
    perceptual: list[dict[str, Any]] = field(default_factory=list)  # algorithm, bits, value, ...
    metadata: dict[str, Any] = field(default_factory=dict)  # normalised: gps, device, dates
    full_tags: dict[str, Any] | None = None  # exiftool's whole tag set, kept as its own artifact
    notes: list[str] = field(default_factory=list)  # e.g. "not hashable: corrupt JPEG"


class Enricher:
    """Describes artifacts. Use as a context manager around one capture's artifacts."""

    def __enter__(self) -> Enricher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop helper processes."""

    def tools(self) -> dict[str, str]:
        """Versions of the tools used, for the manifest."""
        return {}

    def describe(self, path: Path, media_type: str, role: str) -> Description:
        return Description()
