"""The S3 boundary: SDK, HTTP and socket errors become one-line ``StorageError``s that
name the store and never the credentials, and bytes are checked as they cross the wire.

``no_such_key`` is the one answer that means an object is missing; any other failure is an
outage or a refusal (see ``kernel.errors.MissingObjectError``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import urllib3
from minio.error import MinioException, S3Error

from hashing.crypto import Digests
from kernel.errors import StorageError
from kernel.ids import parse_time

DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}
NO_LOCK = {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}



def parse_retain_until(value: str | None) -> datetime | None:
    """An Object Lock retain-until header as a moment (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


class SentBytesCheck(io.RawIOBase):
    """Hash bytes as the SDK reads them; refuse to hand over the last byte on a mismatch.

    The SDK reads exactly ``size`` bytes before it sends the final part and completes the
    upload, so raising here aborts the upload with nothing published.
    """

    def __init__(self, stream: BinaryIO, expected: Digests, key: str) -> None:
        super().__init__()
        self._stream = stream
        self._expected = expected
        self._key = key
        self._sha256 = hashlib.sha256()
        self._seen = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        remaining = self._expected.size - self._seen
        data = self._stream.read(remaining if size < 0 else min(size, remaining))
        self._sha256.update(data)
        self._seen += len(data)
        if self._seen == self._expected.size and self._sha256.hexdigest() != self._expected.sha256:
            raise StorageError(f"source of {self._key} changed while it was being uploaded")
        if not data and self._seen < self._expected.size:
            raise StorageError(f"source of {self._key} shrank while it was being uploaded")
        return data


class ObjectReader(io.RawIOBase):
    """A streamed GET whose network errors surface as ``StorageError``."""

    def __init__(self, response: Any, describe: str) -> None:
        super().__init__()
        self._response = response
        self._describe = describe

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._response.readinto(buffer)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageError(f"reading {self._describe} failed: {reason(exc)}") from exc


def reason(exc: BaseException) -> str:
    """A short cause for a network error (urllib3 nests the useful part)."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(reason, urllib3.exceptions.TimeoutError) or "timed out" in text.lower():
        return "timed out"
    return text.split(": ", 1)[-1][:200] if ": " in text else text[:200]


def no_such_key(exc: StorageError) -> bool:
    """The server answered that the key does not exist (the only "missing" there is)."""
    cause = exc.__cause__
    return isinstance(cause, S3Error) and cause.code in ("NoSuchKey", "NoSuchObject")


@contextlib.contextmanager
def translate(action: str, where: str, bucket: str) -> Iterator[None]:
    """Translate SDK and network failures at the boundary (httpx-style)."""
    try:
        yield
    except StorageError:
        raise
    except S3Error as exc:
        raise s3_error(action, where, bucket, exc) from exc
    except MinioException as exc:  # ServerError, InvalidResponseError
        status = getattr(exc, "status_code", None) or getattr(exc, "_code", "")
        raise StorageError(
            f"{action} on {where} failed: the server answered {status or 'badly'}"
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageError(
            f"{action} on {where} failed: cannot reach the S3 endpoint ({reason(exc)})"
        ) from exc
    except ValueError as exc:  # the SDK's own argument checks
        raise StorageError(f"{action} on {where} failed: {exc}") from exc


def s3_error(action: str, where: str, bucket: str, exc: S3Error) -> StorageError:
    code = exc.code or "error"
    if code in DENIED:
        why = "access denied: check the S3 access key and secret key"
    elif code == "NoSuchBucket":
        why = f"bucket {bucket} does not exist (run `witnessbox init`)"
    else:
        why = f"{exc.message or code}".strip().rstrip(".")
    return StorageError(f"{action} on {where} failed: {why} ({code})")
