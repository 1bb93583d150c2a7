"""Files a Telegram run writes into its staging directory, and the artifact list describing them.

Everything is named from ids and fixed words. JSON is written through a temporary name and
renamed, and a media download that fails leaves nothing behind, so every listed artifact is
whole. The byte total is tracked against the capture's size budget.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from collectors.base import StagedArtifact, check_artifact_name
from collectors.telegram.client import MediaTooLarge
from kernel.canonical import compact_json


class LimitedWriter:
    """A write-only file wrapper that refuses to grow past ``limit`` bytes."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self.size = 0
        self.media_type = "application/octet-stream"

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self._limit:
            raise MediaTooLarge(f"media larger than {self._limit} bytes")
        return self._raw.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._raw.seek(offset, whence)
        self.size = position
        return position

    def truncate(self, size: int | None = None) -> int:
        return self._raw.truncate(size)

    def tell(self) -> int:
        return self._raw.tell()

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def flush(self) -> None:
        self._raw.flush()

    def reset(self) -> None:
        """Forget a partial download before trying again."""
        self._raw.seek(0)
        self._raw.truncate()
        self.size = 0


class Staging:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.artifacts: list[StagedArtifact] = []
        self.names: set[str] = set()
        self.bytes = 0

    def _path(self, name: str) -> Path:
        path = self.root / check_artifact_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def has(self, name: str) -> bool:
        return name in self.names

    def _list(self, artifact: StagedArtifact) -> StagedArtifact:
        self.artifacts.append(artifact)
        self.names.add(artifact.name)
        return artifact

    def write_json(
        self, name: str, data: Any, role: str, platform: dict[str, Any] | None = None
    ) -> StagedArtifact:
        path = self._path(name)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as out:
            out.write(compact_json(data, sort_keys=False))
            size = out.tell()
        os.replace(tmp, path)
        self.bytes += size
        return self._list(
            StagedArtifact(name, role, "application/json", platform=dict(platform or {}))
        )

    @contextlib.contextmanager
    def media(
        self, name: str, media_type: str, limit: int, platform: dict[str, Any] | None = None
    ) -> Iterator[LimitedWriter]:
        """A file to download into; listed only if the block finishes without an error.

        The block may change ``writer.media_type`` once the server has said what it sent.
        """
        path = self._path(name)
        tmp = path.with_name(path.name + ".part")
        try:
            with open(tmp, "w+b") as raw:
                writer = LimitedWriter(raw, limit)
                writer.media_type = media_type
                yield writer
                raw.flush()
                size = raw.tell()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.bytes += size
        if not self.has(name):
            self._list(
                StagedArtifact(name, "media", writer.media_type, platform=dict(platform or {}))
            )

    def adopt(
        self, name: str, role: str, media_type: str, platform: dict[str, Any] | None = None
    ) -> StagedArtifact:
        """List a file some other writer (the WARC recorder) finished under ``name``."""
        path = self.root / check_artifact_name(name)
        self.bytes += path.stat().st_size
        return self._list(StagedArtifact(name, role, media_type, platform=dict(platform or {})))
