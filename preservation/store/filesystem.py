"""The embedded default store: a directory on a local filesystem.

Writes go to ``.tmp/`` inside the store and appear under their final key only through
``os.link``, which is atomic and refuses to replace an existing name: that is the
put-if-absent the whole commit protocol relies on. A staged file on the same filesystem
is hashed once and hard-linked into place (no copy); from elsewhere it is copied through
the hashing tee, so either way each byte is read once. Stored files are made read-only.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from hashing.crypto import Digests, copy_and_digest, digest_file
from kernel.errors import MissingObjectError, ObjectExistsError, StorageError
from preservation.store.base import (
    ObjectInfo,
    Store,
    blob_key,
    check_key,
    check_prefix,
)

READ_ONLY = 0o444


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _reading_staged(path: Path) -> Iterator[None]:
    """Staged-file errors as storage errors: the capture stays staged for a rerun."""
    try:
        yield
    except FileNotFoundError as exc:
        raise StorageError(f"staged file vanished: {path}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc


def _durable(path: Path) -> os.stat_result:
    """fsync a staged file, so it is on disk before it gets a name; its stat after that."""
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())
        return os.fstat(stream.fileno())


def _same_bytes(path: Path, data: bytes) -> bool:
    with contextlib.suppress(OSError):
        return path.stat().st_size == len(data) and path.read_bytes() == data
    return False


def _copy_sha256(stream: BinaryIO, tmp: Path, sha256: str | None, key: str) -> int:
    """Copy into a new file, fsync it, and refuse bytes whose sha256 is not ``sha256``."""
    digest = hashlib.sha256() if sha256 is not None else None
    size = 0
    with open(tmp, "xb") as out:
        while chunk := stream.read(1 << 20):
            if digest is not None:
                digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest is not None and digest.hexdigest() != sha256:
        raise StorageError(f"the copy of {key} read as sha256 {digest.hexdigest()}, not {sha256}")
    return size


def _check_sha256(stream: BinaryIO, sha256: str, key: str) -> None:
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise StorageError(f"{key} reads as sha256 {digest.hexdigest()}, not {sha256}")


class FileStore(Store):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.url = f"file://{self.root}"
        self._tmp = self.root / ".tmp"
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot use store directory {self.root}: {exc.strerror}") from exc

    # -- paths ---------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp_path(self) -> Path:
        return self._tmp / f"{uuid.uuid4().hex}.part"

    @contextlib.contextmanager
    def _temporary(self, what: str) -> Iterator[Path]:
        """A fresh file name in ``.tmp/`` for one write; gone afterwards, whatever happens.

        A filesystem error while writing becomes "cannot write ``what``".
        """
        tmp = self._tmp_path()
        try:
            yield tmp
        except OSError as exc:
            raise StorageError(f"cannot write {what}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _publish(self, tmp_or_source: Path, key: str, size: int) -> None:
        """Give a complete file its final name unless the name exists (then check size)."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp_or_source, final)
        except FileExistsError:
            if final.stat().st_size != size:
                raise StorageError(
                    f"stored blob {key} has the wrong size: the store needs an audit"
                ) from None
            return
        os.chmod(final, READ_ONLY)
        _fsync_dir(final.parent)

    def _link_staged(
        self, path: Path, digests: Digests, fallback: Callable[[], Digests]
    ) -> Digests:
        """Name a durable staged file as its blob with a hard link, or ``fallback()`` where
        the filesystem refuses links (another device, no permission, too many links)."""
        key = blob_key(digests.sha256)
        try:
            self._publish(path, key, digests.size)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise StorageError(f"cannot store {key}: {exc.strerror}") from exc
            return fallback()
        return digests

    def _same_device(self, path: Path) -> bool:
        return path.stat().st_dev == self.root.stat().st_dev

    # -- blobs ---------------------------------------------------------------------------
    def put_file(self, path: Path) -> Digests:
        path = Path(path)
        with _reading_staged(path):
            before = path.stat()
            if not self._same_device(path):
                return self._copy(path)
            digests = digest_file(path)
            after = _durable(path)
        if (before.st_size, before.st_mtime_ns, before.st_ino) != (
            after.st_size,
            after.st_mtime_ns,
            after.st_ino,
        ) or after.st_size != digests.size:
            raise StorageError(f"{path} changed while it was being stored")
        return self._link_staged(path, digests, lambda: self._copy(path))

    def put_hashed_file(self, path: Path, known: Digests, *, inode: int, mtime_ns: int) -> Digests:
        """Link a staged file whose digests the collector computed while writing it.

        Reading it again would only repeat those digests over the same page-cached bytes,
        so it is not re-read when it is provably the file that was hashed: same inode, size
        and mtime (``videocapture.tee`` seals the mtime so that any later write changes
        it), checked after the fsync that makes it durable and just before it is named.
        Anything else, or another filesystem, goes through ``put_file`` and is re-read.
        """
        path = Path(path)
        with _reading_staged(path):
            if not self._same_device(path):
                return self.put_file(path)
            st = _durable(path)
        if (st.st_size, st.st_ino, st.st_mtime_ns) != (known.size, inode, mtime_ns):
            return self.put_file(path)
        return self._link_staged(path, known, lambda: self.put_file(path))

    def _copy(self, path: Path) -> Digests:
        """Copy a staged file in through the hashing tee (linking is not possible)."""
        with _reading_staged(path), open(path, "rb") as stream:
            return self.put_stream(stream)

    def put_stream(self, stream: BinaryIO) -> Digests:
        with self._temporary(f"to store {self.root}") as tmp:
            with open(tmp, "xb") as out:
                digests = copy_and_digest(stream, out)
                out.flush()
                os.fsync(out.fileno())
            self._publish(tmp, blob_key(digests.sha256), digests.size)
            return digests

    def put_blob_stream(self, stream: BinaryIO, sha256: str) -> None:
        """Copy a blob of known sha256 (replication): one digest, not three."""
        key = blob_key(sha256)
        if self.path(key).exists():
            return
        with self._temporary(f"to store {self.root}") as tmp:
            self._publish(tmp, key, _copy_sha256(stream, tmp, sha256, key))

    #: a file handed to put_object_file is linked, not re-read: no need for its sha256
    wants_object_sha256 = False

    def put_object_file(
        self, key: str, path: Path, sha256: str | None, *, replace: bool = False
    ) -> str:
        final = self.path(key)
        if final.exists() and not replace:
            return "exists"
        with self._temporary(key) as tmp:
            try:  # the caller's finished file, linked: the bytes it wrote (and hashed)
                os.link(path, tmp)
                if sha256 is not None:
                    with open(tmp, "rb") as linked:
                        _check_sha256(linked, sha256, key)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                with open(path, "rb") as source:
                    _copy_sha256(source, tmp, sha256, key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, READ_ONLY)
            if replace:
                os.replace(tmp, final)  # atomic: readers see the damaged copy or the good one
                note = "replaced the damaged copy"
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    return "exists"
                note = "written"
            _fsync_dir(final.parent)
            return note

    # -- named objects -------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        final = self.path(key)
        if final.exists():
            if _same_bytes(final, data):
                return
            raise ObjectExistsError(f"{key} already exists with different content")
        with self._temporary(key) as tmp:
            with open(tmp, "xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, final)
            except FileExistsError:
                if not _same_bytes(final, data):
                    raise ObjectExistsError(
                        f"{key} already exists with different content"
                    ) from None
                return
            os.chmod(final, READ_ONLY)
            _fsync_dir(final.parent)

    # -- reading -------------------------------------------------------------------------
    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            stream = open(self.path(key), "rb")
        except FileNotFoundError as exc:
            raise MissingObjectError(f"missing object: {key}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc
        with stream:
            yield stream

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc.strerror}") from exc
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def list(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        parent = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / parent if parent else self.root
        if not base.is_dir():
            return
        for key in self._walk(base, parent):
            if key.startswith(prefix):
                yield key

    def _walk(self, directory: Path, rel: str) -> Iterator[str]:
        """Keys in lexical order: a directory sorts as ``name/``, as its keys do."""
        try:
            entries = [(e.name + "/" if e.is_dir() else e.name, e) for e in os.scandir(directory)]
        except OSError as exc:
            raise StorageError(f"cannot list {directory}: {exc.strerror}") from exc
        for sort_name, entry in sorted(entries):
            if rel == "" and entry.name == ".tmp":
                continue
            key = f"{rel}/{entry.name}" if rel else entry.name
            if sort_name.endswith("/"):
                yield from self._walk(Path(entry.path), key)
            else:
                yield key
