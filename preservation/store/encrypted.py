"""A store that encrypts every object before it leaves the host (``encrypt = true`` replicas).

It wraps a file or S3 store. Keys stay those of the plaintext (``blobs/sha256/<plaintext
sha256>``), ``stat`` reports plaintext sizes and ``open`` decrypts, so verify, export and
downloads read an encrypted replica exactly as they read the primary. The wrapped store
holds only ciphertext (see ``envelope``); writes go through a spool file in ``spool_dir``
(the host's staging area), never through the wrapped store's own digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from hashing.crypto import Digests, copy_and_digest
from kernel.errors import MissingObjectError, ObjectExistsError, StorageError
from preservation.store import envelope
from preservation.store.base import ObjectInfo, Store, blob_key

#: names the key-encryption key a replica's objects are encrypted under (plaintext, write-once)
KEK_MARKER = "kek.json"
#: one write-once record per later key (``witnessbox replicas rotate-kek``): ``<prefix><id>.json``
ROTATIONS = "kek-rotations/"


class EncryptedStore(Store):
    encrypted = True
    algorithm = envelope.ALGORITHM

    def __init__(
        self,
        inner: Store,
        kek: str,
        spool_dir: Path | None = None,
        previous: Sequence[str] = (),
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self._kek = envelope.load_kek(kek) if kek else None
        # reading: the current key and the ones rotated out (objects keep the key they got)
        olds = [envelope.load_kek(k) for k in previous if k.strip()]
        self._ring = envelope.keyring([*([self._kek] if self._kek else []), *olds])
        self._spool = spool_dir
        self._claimed = False

    def __repr__(self) -> str:
        return f"EncryptedStore({self.inner.describe()!r})"

    def describe(self) -> str:
        return self.inner.describe()

    @property
    def supports_retention(self) -> bool:
        return self.inner.supports_retention

    def close(self) -> None:
        self.inner.close()

    def _key(self) -> bytes:
        """The KEK for writing; refused if the replica already holds another key's objects."""
        if self._kek is None:
            raise envelope.KeyMismatch(
                f"{self.url} is an encrypted replica and no key-encryption key is set "
                "(WITNESSBOX_KEK or the Airflow connection witnessbox_kek)"
            )
        if not self._claimed:
            mine = envelope.kek_id(self._kek).hex()
            marker = json.dumps({"algorithm": self.algorithm, "kek_id": mine}).encode()
            try:
                self.inner.put_bytes(KEK_MARKER, marker)  # write-once: the replica's key
            except ObjectExistsError:
                if mine not in self.accepted_keys():
                    theirs = ", ".join(k[:16] for k in self.accepted_keys())
                    raise envelope.KeyMismatch(
                        f"wrong key-encryption key for {self.url}: it takes key(s) {theirs}, "
                        f"this installation's key is {mine[:16]}: nothing written (after a "
                        "rotation, run `witnessbox replicas rotate-kek` once)"
                    ) from None
            self._claimed = True
        return self._kek

    def accepted_keys(self) -> list[str]:
        """Ids of the keys this replica takes for writing: its first, then each rotation's."""
        first = json.loads(self.inner.read_bytes(KEK_MARKER)).get("kek_id", "")
        later = [k[len(ROTATIONS) : -len(".json")] for k in self.inner.list(ROTATIONS)]
        return [first, *sorted(later)]

    def rotate(self, at: str, by: str) -> dict[str, object]:
        """Let this installation's (new) key write here from now on, once it has shown it
        holds a key the replica already takes (in ``previous``). Objects already stored keep
        their key, so the keys rotated out stay needed for reading them."""
        if self._kek is None:
            raise envelope.KeyMismatch(f"{self.url}: no key-encryption key is set")
        mine = envelope.kek_id(self._kek).hex()
        try:
            accepted = self.accepted_keys()
        except MissingObjectError:
            accepted = []
        if not accepted:  # nothing written yet: the first write claims the key
            return {"kek_id": mine, "previous": None, "changed": False}
        if mine in accepted:
            return {"kek_id": mine, "previous": None, "changed": False}
        held = {kid.hex() for kid in self._ring}
        proof = [k for k in accepted if k in held]
        if not proof:
            raise envelope.KeyMismatch(
                f"{self.url} takes key(s) {', '.join(k[:16] for k in accepted)}: put one of "
                "them in WITNESSBOX_KEK_PREVIOUS to rotate to the new key"
            )
        record = {"kek_id": mine, "previous": proof[-1], "algorithm": self.algorithm,
                  "at": at, "by": by}  # fmt: skip
        self.inner.put_bytes(f"{ROTATIONS}{mine}.json", json.dumps(record).encode())
        self._claimed = True
        return {**record, "changed": True}

    @contextlib.contextmanager
    def _spool_file(self) -> Iterator[BinaryIO]:
        if self._spool:
            self._spool.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._spool, prefix="wb-enc-", suffix=".part") as f:
            yield f  # type: ignore[misc]

    def _seal_upload(self, key: str, write: object, *, replace: bool = False) -> tuple[str, object]:
        """Encrypt what ``write(sink)`` writes into a spool file, then store it under ``key``."""
        kek = self._key()
        with self._spool_file() as spool:
            hashing = _HashingSink(spool) if self.inner.wants_object_sha256 else None
            writer = envelope.EncryptingWriter(kek, hashing or spool)  # type: ignore[arg-type]
            result = write(writer)  # type: ignore[operator]
            writer.finish()
            spool.flush()
            os.fsync(spool.fileno())  # durable before a file store links it into place
            note = self.inner.put_object_file(
                key, Path(spool.name), hashing.hexdigest() if hashing else None, replace=replace
            )
        return note, result

    # -- blobs ---------------------------------------------------------------------------
    def put_file(self, path: Path) -> Digests:
        with open(path, "rb") as stream:
            return self.put_stream(stream)

    def put_stream(self, stream: BinaryIO) -> Digests:
        with self._spool_file() as plain:  # the key is the plaintext digest: known at the end
            digests = copy_and_digest(stream, plain)
            plain.flush()
            plain.seek(0)
            self.put_blob_stream(plain, digests.sha256)
        return digests

    def put_blob_stream(self, stream: BinaryIO, sha256: str) -> None:
        key = blob_key(sha256)
        if self.inner.exists(key):
            return
        self._put_checked(key, stream, sha256)

    def _put_checked(self, key: str, stream: BinaryIO, sha256: str, replace: bool = False) -> str:
        def write(sink: envelope.EncryptingWriter) -> str:
            digest = hashlib.sha256()
            while chunk := stream.read(envelope.SEGMENT):
                digest.update(chunk)
                sink.write(chunk)
            return digest.hexdigest()

        note, plain_sha = self._seal_upload(key, write, replace=replace)
        if plain_sha != sha256:  # the bytes named by sha256 were not what was read
            raise StorageError(f"the copy of {key} read as sha256 {plain_sha}, not {sha256}")
        return str(note)

    def put_object_file(
        self, key: str, path: Path, sha256: str | None, *, replace: bool = False
    ) -> str:
        with open(path, "rb") as stream:
            if sha256 is None:
                sha256 = hashlib.sha256(stream.read()).hexdigest()
                stream.seek(0)
            return self._put_checked(key, stream, sha256, replace=replace)

    # -- named objects -------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        if self.inner.exists(key):  # ciphertext differs per write: compare plaintexts
            if self.read_bytes(key) == data:
                return
            raise ObjectExistsError(f"{key} already exists with different content")
        self._put_checked(key, io.BytesIO(data), hashlib.sha256(data).hexdigest())

    # -- reading -------------------------------------------------------------------------
    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with self.inner.open(key) as raw:
            reader = envelope.DecryptingReader(raw, self._ring, f"{key} on {self.url}")
            yield io.BufferedReader(reader, buffer_size=envelope.SEGMENT)  # type: ignore[arg-type]

    def stat(self, key: str) -> ObjectInfo | None:
        info = self.inner.stat(key)
        if info is None:
            return None
        return ObjectInfo(
            key,
            envelope.plaintext_size(info.size),
            info.modified,
            info.retain_until,
            info.retention_mode,
        )

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)


class _HashingSink:
    """Write-through that hashes what is written (the ciphertext's sha256 for the store)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._out.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
