"""The S3 evidence store (MinIO, SeaweedFS, AWS) through the ``minio`` SDK.

Like an Airflow hook, the store holds settings and builds its client on first use: nothing
connects in ``__init__``. Blobs are content-addressed, so an upload is put-if-absent by
construction; named objects (manifests, ledger entries) use ``If-None-Match: *`` on top of a
stat-and-compare. Each upload is confirmed three ways:

* the bytes sent are hashed as they leave and must match the digest the key was named from
  (a staged file that changes between digest and upload aborts the upload before it
  completes, so no wrong bytes are ever published under a digest's name);
* the server checks them: ``x-amz-checksum-sha256`` on single-request uploads, and the
  SDK's signed payload hash (HTTP) or Content-MD5 (HTTPS) on every multipart part;
* afterwards the stored object is stat'ed: size, the sha256 in its metadata, the server's
  checksum when it returns one, and the Object Lock retention when the bucket has it.

When the bucket has Object Lock, every object gets ``retention_mode`` retention until
now + ``retention_days``; retention is only ever extended (a blob reused by a later
capture is kept as long as that capture), never shortened.

Every SDK, HTTP and socket error leaves this module as a ``StorageError`` with a one-line
message that names the store and never the credentials (``s3_wire``); Object Lock lives in
``s3_retention``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.error import S3Error
from minio.helpers import check_bucket_name, genheaders
from minio.retention import Retention

from hashing.crypto import Digests, copy_and_digest, digest_file
from kernel.errors import ConfigError, MissingObjectError, ObjectExistsError, StorageError
from preservation.store.base import (
    ObjectInfo,
    Store,
    blob_key,
    check_key,
    check_prefix,
)
from preservation.store.s3_retention import ObjectLock
from preservation.store.s3_wire import (
    ObjectReader,
    SentBytesCheck,
    no_such_key,
    parse_retain_until,
    translate,
)

MiB = 1 << 20
#: Uploads up to this size go in one request (with the server-checked sha256); larger ones
#: in parts of this size. The SDK holds about PARALLEL_PARTS + 3 parts in memory at once
#: (measured: +40 MiB RSS at 8 MiB x 2), so both stay small.
PART_SIZE = 8 * MiB
PARALLEL_PARTS = 2
MAX_PARTS = 9000  # S3 allows 10,000: keep headroom
def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


class S3Store(Store):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str = "localhost:9000",
        access_key: str = "",
        secret_key: str = "",
        secure: bool = True,
        region: str | None = None,
        retention_days: int = 3650,
        retention_mode: str = "COMPLIANCE",
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        retries: int = 2,
        part_size: int = PART_SIZE,
        spool_dir: str | Path | None = None,
        sse: str = "",
    ) -> None:
        try:
            check_bucket_name(bucket)
        except ValueError as exc:
            raise ConfigError(f"invalid S3 bucket name {bucket!r}: {exc}") from None
        prefix = prefix.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except ValueError:
                raise ConfigError(f"invalid S3 store prefix {prefix!r}") from None
        if retention_mode not in (COMPLIANCE, GOVERNANCE):
            raise ConfigError("retention_mode must be COMPLIANCE or GOVERNANCE")
        if retention_days < 0:
            raise ConfigError("retention_days must be 0 (off) or more")
        if part_size < 5 * MiB:
            raise ConfigError("S3 part size must be at least 5 MiB")
        endpoint = endpoint.rsplit("@", 1)[-1]  # never keep inline credentials
        for scheme in ("https://", "http://"):
            if endpoint.startswith(scheme):
                secure = scheme == "https://"
                endpoint = endpoint[len(scheme) :]
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint.rstrip("/")
        self.secure = bool(secure)
        self.region = region or None
        self.retention_days = int(retention_days)
        self.retention_mode = retention_mode
        self.part_size = int(part_size)
        self.spool_dir = Path(spool_dir) if spool_dir else None
        if sse and sse != "s3" and not sse.startswith("kms:"):
            raise ConfigError('sse must be "s3" or "kms:KEY-ID"')
        self.sse = sse
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._access_key = access_key
        self._secret_key = secret_key
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)
        self._retries = retries
        self._client_lock = threading.Lock()
        self._minio: Minio | None = None
        self._http: urllib3.PoolManager | None = None
        self.lock = ObjectLock(self)

    def __repr__(self) -> str:
        return f"S3Store({self.describe()!r})"

    # -- plumbing -----------------------------------------------------------------------
    @property
    def client(self) -> Minio:
        """The SDK client, built on first use with bounded timeouts and retries."""
        with self._client_lock:
            if self._minio is None:
                self._http = urllib3.PoolManager(
                    timeout=self._timeout,
                    maxsize=PARALLEL_PARTS + 2,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                    retries=urllib3.Retry(
                        total=self._retries,
                        connect=self._retries,
                        read=self._retries,
                        backoff_factor=0.2,
                        status_forcelist=[500, 502, 503, 504],
                        raise_on_status=False,
                    ),
                )
                self._minio = Minio(
                    self.endpoint,
                    access_key=self._access_key or None,
                    secret_key=self._secret_key or None,
                    secure=self.secure,
                    region=self.region,
                    http_client=self._http,
                )
            return self._minio

    def close(self) -> None:
        with self._client_lock:
            if self._http is not None:
                self._http.clear()
            self._minio = None
            self._http = None

    def describe(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"{self.url} at {scheme}://{self.endpoint}"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        with translate(action, self.describe(), self.bucket):
            yield

    # -- retention ----------------------------------------------------------------------
    @property
    def supports_retention(self) -> bool:
        """True when the bucket has Object Lock enabled (asked once, then cached)."""
        return self.lock.enabled

    def _sse(self) -> Any:
        """Server-side encryption asked of the server for every write, when configured."""
        if not self.sse:
            return None
        from minio.sse import SseKMS, SseS3

        return SseS3() if self.sse == "s3" else SseKMS(self.sse.removeprefix("kms:"), {})

    # -- bucket -------------------------------------------------------------------------
    def ensure_bucket(self, object_lock: bool | None = None) -> bool:
        """Create the bucket if it is missing; True when it was created.

        ``object_lock=None`` (what ``witnessbox init`` uses) creates the bucket with Object
        Lock whenever retention is configured (``retention_days`` > 0) and accepts an
        existing bucket as it is. ``True`` insists on Object Lock: an existing bucket
        without it is an error, since S3 enables Object Lock when a bucket is created.
        """
        lock = self.retention_days > 0 if object_lock is None else object_lock
        with self._errors("creating the bucket"):
            if self.client.bucket_exists(self.bucket):
                created = False
            else:
                self.client.make_bucket(self.bucket, location=self.region, object_lock=lock)
                created = True
        self.lock.forget()
        if object_lock and not self.supports_retention:
            raise StorageError(
                f"bucket {self.bucket} exists without Object Lock: use a new bucket, "
                "or enable Object Lock on it with the storage provider's tools"
            )
        return created

    # -- reading ------------------------------------------------------------------------
    def stat(self, key: str) -> ObjectInfo | None:
        name = self._name(key)
        try:
            with self._errors(f"stat of {key}"):
                obj = self.client.stat_object(self.bucket, name)
        except StorageError as exc:
            if no_such_key(exc):
                return None
            raise
        return self._info(key, obj)

    def _info(self, key: str, obj: Any) -> ObjectInfo:
        headers = obj.metadata  # an HTTPHeaderDict: case-insensitive
        return ObjectInfo(
            key,
            int(obj.size or 0),
            obj.last_modified,
            parse_retain_until(headers.get("x-amz-object-lock-retain-until-date")),
            headers.get("x-amz-object-lock-mode") or None,
        )

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.open_range(key, 0)

    @contextlib.contextmanager
    def open_range(self, key: str, start: int) -> Iterator[BinaryIO]:
        name = self._name(key)
        try:
            with self._errors(f"reading {key}"):
                response = self.client.get_object(self.bucket, name, offset=max(start, 0))
        except StorageError as exc:
            if no_such_key(exc):
                raise MissingObjectError(f"missing object: {key} on {self.url}") from exc.__cause__
            raise
        try:
            yield io.BufferedReader(ObjectReader(response, key), buffer_size=1 * MiB)  # type: ignore[arg-type]
        finally:
            response.close()
            response.release_conn()

    def list(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        with self._errors(f"listing {prefix or 'the store'}"):
            names = [
                obj.object_name[strip:]
                for obj in self.client.list_objects(self.bucket, prefix=full, recursive=True)
                if obj.object_name and not obj.is_dir
            ]
        yield from sorted(names)

    # -- blobs --------------------------------------------------------------------------
    def put_file(self, path: Path) -> Digests:
        path = Path(path)
        try:
            digests = digest_file(path)
        except FileNotFoundError as exc:
            raise StorageError(f"staged file vanished: {path}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
        self._store_blob(path, digests)
        return digests

    def put_stream(self, stream: BinaryIO) -> Digests:
        try:
            with tempfile.NamedTemporaryFile(
                dir=self.spool_dir, prefix="witnessbox-", suffix=".part"
            ) as spool:
                digests = copy_and_digest(stream, spool)
                spool.flush()
                self._store_blob(Path(spool.name), digests)
        except OSError as exc:
            raise StorageError(f"cannot spool an upload for {self.url}: {exc}") from exc
        return digests

    def has_blob(self, sha256: str) -> bool:
        return self.exists(blob_key(sha256))

    def _store_blob(self, path: Path, digests: Digests) -> None:
        key = blob_key(digests.sha256)
        existing = self.stat(key)
        if existing is not None:
            self._check_blob(key, existing, digests)
            self.lock.extend(key, existing)
            return
        wanted = self.lock.wanted()
        metadata: dict[str, str] = {
            "x-amz-meta-sha256": digests.sha256,
            "x-amz-meta-sha512": digests.sha512,
            "x-amz-meta-md5": digests.md5,
        }
        part_size = max(self.part_size, -(-digests.size // MAX_PARTS // MiB) * MiB)
        if digests.size <= part_size:
            metadata["x-amz-checksum-sha256"] = _b64(digests.sha256)
        try:
            with open(path, "rb") as source, self._errors(f"uploading {key}"):
                self.client.put_object(
                    self.bucket,
                    self._name(key),
                    SentBytesCheck(source, digests, key),  # type: ignore[arg-type]
                    digests.size,
                    content_type="application/octet-stream",
                    metadata=metadata,  # type: ignore[arg-type]
                    part_size=part_size,
                    num_parallel_uploads=PARALLEL_PARTS,
                    retention=wanted,
                    sse=self._sse(),
                )
        except FileNotFoundError as exc:
            raise StorageError(f"staged file vanished: {path}") from exc
        self._confirm_blob(key, digests, wanted)

    def _check_blob(self, key: str, info: ObjectInfo, digests: Digests) -> None:
        if info.size != digests.size:
            raise StorageError(f"stored blob {key} has the wrong size: the store needs an audit")

    def _confirm_blob(self, key: str, digests: Digests, wanted: Retention | None) -> None:
        """Stat what the server stored: size, recorded digest, checksum and retention."""
        with self._errors(f"confirming {key}"):
            obj = self.client.stat_object(
                self.bucket, self._name(key), extra_headers={"x-amz-checksum-mode": "ENABLED"}
            )
        info = self._info(key, obj)
        headers = obj.metadata
        if info.size != digests.size:
            raise StorageError(f"{key} was stored with {info.size} bytes, not {digests.size}")
        if (headers.get("x-amz-meta-sha256") or "").lower() != digests.sha256:
            raise StorageError(f"{key} was stored without its sha256 in the object metadata")
        checksum = headers.get("x-amz-checksum-sha256") or ""
        if checksum and "-" not in checksum and checksum != _b64(digests.sha256):
            raise StorageError(f"the server's sha256 of {key} does not match the upload")
        self.lock.check(key, info, wanted)

    def put_object_file(
        self, key: str, path: Path, sha256: str | None, *, replace: bool = False
    ) -> str:
        """Upload a file under ``key`` (encrypted objects, repairs); see ``Store``."""
        if sha256 is None:
            raise StorageError(f"uploading {key} needs its sha256")
        if not replace and self.stat(key) is not None:
            return "exists"
        wanted = self.lock.wanted()
        size = Path(path).stat().st_size
        metadata = {"x-amz-meta-stored-sha256": sha256}
        if size <= self.part_size:
            metadata["x-amz-checksum-sha256"] = _b64(sha256)
        with open(path, "rb") as source, self._errors(f"writing {key}"):
            result = self.client.put_object(
                self.bucket,
                self._name(key),
                SentBytesCheck(source, Digests(size, sha256, "", ""), key),  # type: ignore[arg-type]
                size,
                metadata=metadata,  # type: ignore[arg-type]
                part_size=self.part_size,
                retention=wanted,
                sse=self._sse(),
            )
        info = self.stat(key)
        if info is None or info.size != size:
            raise StorageError(f"{key} did not arrive whole on {self.url}")
        self.lock.check(key, info, wanted)
        if not replace:
            return "written"
        if result.version_id:
            return f"wrote a new version {result.version_id}; the damaged version is kept"
        return "replaced the damaged copy (the bucket keeps no versions)"

    # -- named objects ------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        name = self._name(key)
        if self._same_or_absent(key, data):
            return
        wanted = self.lock.wanted()
        sha256 = hashlib.sha256(data).hexdigest()
        headers = genheaders(
            {"x-amz-meta-sha256": sha256, "x-amz-checksum-sha256": _b64(sha256)},
            self._sse(),
            None,
            wanted,
            False,
        )
        headers["Content-Type"] = content_type
        try:
            with self._errors(f"writing {key}"):
                self._put_if_absent(name, data, headers)
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error) and cause.code == "PreconditionFailed":
                if self._same_or_absent(key, data):  # a racing writer stored the same bytes
                    return
                raise ObjectExistsError(f"{key} already exists with different content") from None
            raise
        info = self.stat(key)
        if info is None or info.size != len(data):
            raise StorageError(f"{key} did not arrive whole on {self.url}")
        self.lock.check(key, info, wanted)

    def _put_if_absent(self, name: str, data: bytes, headers: dict[str, Any]) -> None:
        """PUT with ``If-None-Match: *``; servers without conditional writes get a plain PUT
        (the stat-and-compare before it still stands, and Object Lock buckets version)."""
        put = getattr(self.client, "_put_object", None)  # the SDK's raw PutObject
        if put is None:
            self.client.put_object(self.bucket, name, io.BytesIO(data), len(data), metadata=headers)
            return
        try:
            put(self.bucket, name, data, {**headers, "If-None-Match": "*"})
        except S3Error as exc:
            if exc.code != "NotImplemented":
                raise
            put(self.bucket, name, data, headers)

    def _same_or_absent(self, key: str, data: bytes) -> bool:
        """True when ``key`` already holds exactly ``data``; ObjectExistsError when it holds
        something else; False when it is absent."""
        info = self.stat(key)
        if info is None:
            return False
        if info.size == len(data) and self.read_bytes(key) == data:
            self.lock.extend(key, info)
            return True
        raise ObjectExistsError(f"{key} already exists with different content")
