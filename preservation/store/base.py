"""The Store interface: write-once objects, content-addressed blobs, retention.

Layout (one bucket or one directory)::

    blobs/sha256/ab/cd/<sha256>                     artifact bytes, written once
    captures/<source_id>/<capture_id>/manifest.json provenance manifest
    ledger/<seq>.json                               custody ledger entries

Nothing here deletes or overwrites: ``put_bytes`` is put-if-absent (identical bytes are
accepted so retries are idempotent; different bytes raise ``ObjectExistsError``), and
``put_file``/``put_stream`` name blobs by their sha256 and confirm the stored digest.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from hashing.crypto import Digests

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BLOB_KEY = re.compile(r"^blobs/sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def blob_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def is_blob_key(key: str) -> bool:
    match = _BLOB_KEY.match(key)
    return (
        bool(match)
        and match.group(3)[:2] == match.group(1)
        and match.group(3)[2:4] == match.group(2)
    )


def check_key(key: str) -> str:
    """Refuse keys that could escape the store or alias another object."""
    if not _SAFE_KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe object key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Refuse listing prefixes that could climb out of the store ("" lists everything)."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime | None = None
    retain_until: datetime | None = None
    retention_mode: str | None = None


class Store(ABC):
    """One evidence store. Implementations translate their errors into ``StorageError``."""

    url: str

    @abstractmethod
    def put_file(self, path: Path) -> Digests:
        """Store a local file as a blob; return its digests (read once)."""

    def put_hashed_file(self, path: Path, known: Digests, *, inode: int, mtime_ns: int) -> Digests:
        """Store a local file whose digests were computed as it was written (a hashing tee).

        ``inode`` and ``mtime_ns`` are the file's when it was hashed. The returned digests
        always describe the stored bytes: stores that read the file anyway (uploads) hash it
        again, and a store that would not must re-read it unless the file is provably the
        one hashed. A caller that gets digests other than ``known`` learns the file changed.
        """
        return self.put_file(path)

    @abstractmethod
    def put_stream(self, stream: BinaryIO) -> Digests:
        """Store a stream of unknown length as a blob; return its digests."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        """Write a small named object once (manifests, signatures, ledger entries)."""

    @abstractmethod
    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open an object for streaming reads; ``StorageError`` if it is missing."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size and retention of an object, or None when it does not exist."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under a prefix, in lexical order."""

    def put_blob_stream(self, stream: BinaryIO, sha256: str) -> None:
        """Store a blob whose sha256 is known (a replica copy, a repair); refuse other bytes."""
        from kernel.errors import StorageError

        digests = self.put_stream(stream)
        if digests.sha256 != sha256:
            raise StorageError(f"the copy of {blob_key(sha256)} read back as {digests.sha256}")

    #: whether put_object_file needs the file's sha256 (S3 sends it for the server to check)
    wants_object_sha256 = True

    def put_object_file(
        self, key: str, path: Path, sha256: str | None, *, replace: bool = False
    ) -> str:
        """Write a finished local file's bytes under ``key``; a note for the ledger.

        ``sha256`` (of the file) is checked where the store can (None: the caller wrote the
        file itself and the store does not want it, see ``wants_object_sha256``).
        Put-if-absent ("exists" when the key is taken) unless ``replace``: a repair replaces
        a damaged copy, on a versioned S3 bucket as a new version (the damaged one is kept).
        """
        from kernel.errors import StorageError

        raise StorageError(f"{self.describe()} cannot write named files")

    @property
    def supports_retention(self) -> bool:
        """True when the store enforces write-once retention (S3 Object Lock)."""
        return False

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @contextlib.contextmanager
    def open_range(self, key: str, start: int) -> Iterator[BinaryIO]:
        """Open an object positioned at byte ``start`` (HTTP range requests for replay)."""
        with self.open(key) as stream:
            if stream.seekable():
                stream.seek(start)
            else:
                left = start
                while left > 0 and (chunk := stream.read(min(left, 1 << 20))):
                    left -= len(chunk)
            yield stream

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def has_blob(self, sha256: str) -> bool:
        return self.exists(blob_key(sha256))

    def describe(self) -> str:
        """The store URL without credentials, for manifests and logs."""
        return self.url

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; stores are also usable without closing."""
