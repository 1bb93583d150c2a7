"""Digests of downloaded files, computed while yt-dlp writes them (a hashing tee).

Hashing a large video after it was downloaded reads it a second time and, on a fast
link, costs as much as the download. yt-dlp's downloaders open their output through
``FileDownloader.sanitize_open``; a downloader subclass wraps that stream so every byte
written is also fed to ``hashing.crypto.MultiHasher`` (its digests run in their own
threads). A record is kept only for a file written front to back in one go, and is
keyed by device, inode, size and modification time, so a renamed ``.part`` file still
matches and a file touched afterwards does not.

Modification times come from a coarse clock: a write in the same clock tick as the last
one written through the tee would leave the mtime unchanged. So on closing, the tee sets
the file's mtime one nanosecond before what the kernel gave it (``seal``): any later
write, and any later file reusing the inode, gets a time at least the original one and
can no longer match the record. Whoever trusts a record still compares size, inode and
mtime, and re-reads the file on any difference.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from hashing.crypto import Digests, MultiHasher, iter_chunks


@dataclass(frozen=True)
class WrittenFile:
    device: int
    inode: int
    size: int
    mtime_ns: int
    digests: Digests

    def as_dict(self) -> dict[str, Any]:
        return {**self.digests.as_dict(), "inode": self.inode, "mtime_ns": self.mtime_ns}


class DigestBook:
    """What this session's downloads wrote, with the digests of exactly those bytes."""

    def __init__(self) -> None:
        self._files: dict[tuple[int, int], WrittenFile] = {}
        self._lock = threading.Lock()

    def wrap(self, stream: Any, mode: str) -> Any:
        if "b" not in mode or "+" in mode or not ("w" in mode or "a" in mode):
            return stream
        try:
            stream.fileno()
        except (OSError, ValueError):
            return stream
        return HashingWriter(stream, mode, self)

    def record(self, written: WrittenFile) -> None:
        with self._lock:
            self._files[(written.device, written.inode)] = written

    def lookup(self, path: str | os.PathLike[str]) -> WrittenFile | None:
        """The record for ``path`` if the file is still exactly what was written."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self._lock:
            written = self._files.get((st.st_dev, st.st_ino))
        if written is None or (written.size, written.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return None
        return written


def seal(fd: int) -> os.stat_result:
    """Move the file's mtime just before any time a later write could give it; its stat.

    The kernel stamps a write with the current coarse time, which never goes below the
    mtime read here, so the sealed value (strictly less) is never produced again by a write
    (short of the wall clock being stepped back, or someone setting mtimes by hand).
    """
    st = os.fstat(fd)
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns - 1))
    return os.fstat(fd)


#: Bytes written between two background flushes to disk (see ``Writeback``).
WRITEBACK_EVERY = 32 << 20


class Writeback:
    """Sends a file's bytes to disk in the background while it is still being written.

    The store makes every blob durable (fsync) before naming it; for a large download
    that would mean waiting, after the last byte arrived, for all of it to reach the disk.
    Every ``WRITEBACK_EVERY`` bytes one ``fdatasync`` runs in a thread on a duplicate descriptor,
    so the final fsync only has the tail left. Errors are left for that final fsync.
    """

    def __init__(self, fd: int) -> None:
        self._fd = os.dup(fd)
        self._every = WRITEBACK_EVERY
        self._since = 0
        self._thread: threading.Thread | None = None

    def _sync(self) -> None:
        with contextlib.suppress(OSError):
            os.fdatasync(self._fd)

    def wrote(self, count: int) -> None:
        self._since += count
        if self._since < self._every or (self._thread and self._thread.is_alive()):
            return
        self._since = 0
        self._thread = threading.Thread(target=self._sync, name="writeback", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class HashingWriter:
    """A write-only stream that digests what it writes; anything but appending voids it."""

    def __init__(self, raw: Any, mode: str, book: DigestBook) -> None:
        self._raw = raw
        self._book = book
        self._hasher: MultiHasher | None = MultiHasher()
        self._writeback = Writeback(raw.fileno())
        if "a" in mode:  # resuming: the bytes already there come first
            try:
                self._prefeed()
            except (OSError, ValueError):  # cannot tell what is there: no record
                self._void()

    def _prefeed(self) -> None:
        """Digest what an interrupted download left, reading the file by its name.

        The stream itself is write-only; the name must still lead to the same inode, and
        only the bytes present when it was opened count (appends land after them).
        """
        assert self._hasher is not None
        mine = os.fstat(self._raw.fileno())
        if not mine.st_size:
            return
        with open(self._raw.name, "rb") as existing:
            theirs = os.fstat(existing.fileno())
            if (theirs.st_dev, theirs.st_ino) != (mine.st_dev, mine.st_ino):
                raise ValueError("the name no longer leads to the file being written")
            left = mine.st_size
            for chunk in iter_chunks(existing):
                self._hasher.update(chunk[:left])
                left -= len(chunk)
                if left <= 0:
                    break
            if left > 0:
                raise ValueError("the file shrank while it was read")

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def write(self, data: Any) -> Any:
        written = self._raw.write(data)
        count = len(data) if written is None else written
        if self._hasher is not None:
            self._hasher.update(memoryview(data)[:count] if count != len(data) else data)
        self._writeback.wrote(count)
        return written

    def _void(self) -> None:
        if self._hasher is not None:
            self._hasher.finish()  # stop its threads
            self._hasher = None

    def seek(self, *args: Any) -> Any:
        self._void()
        return self._raw.seek(*args)

    def truncate(self, *args: Any) -> Any:
        self._void()
        return self._raw.truncate(*args)

    def close(self) -> None:
        st = None
        try:
            if self._hasher is not None:
                self._raw.flush()
                with contextlib.suppress(OSError):  # unsealed: no record, the file is re-read
                    st = seal(self._raw.fileno())
        finally:
            self._raw.close()
            self._writeback.close()
        if self._hasher is not None:
            digests = self._hasher.finish()
            self._hasher = None
            if st is not None and digests.size == st.st_size:
                self._book.record(
                    WrittenFile(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digests)
                )

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
