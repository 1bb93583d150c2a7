"""The hashing tee (``videocapture.tee``) and the store path that trusts it.

Evidence rule under test: a digest recorded in a manifest is always the digest of the
bytes stored. The tee's digests may be reused only for the very file it wrote; any other
file, or the same file touched afterwards, is read again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from collectors.video import tee
from collectors.video.tee import DigestBook
from hashing.crypto import Digests, digest_file
from preservation.store import blob_key
from preservation.store import filesystem as filesystem_store
from preservation.store.filesystem import FileStore

BIG = 9 << 20  # past MultiHasher.PARALLEL_THRESHOLD: the digests run in their threads


def _payload(size: int, seed: int = 1) -> bytes:
    block = hashlib.sha512(str(seed).encode()).digest() * 16  # 1 KiB, not compressible
    return (block * (size // len(block) + 1))[:size]


def _write(book: DigestBook, path: Path, data: bytes, mode: str = "wb", chunk: int = 1 << 20):
    stream = book.wrap(open(path, mode), mode)
    for start in range(0, len(data), chunk):
        stream.write(data[start : start + chunk])
    stream.close()


def _stamp(book: DigestBook, path: Path) -> tuple[Digests, int, int]:
    written = book.lookup(path)
    assert written is not None
    return written.digests, written.inode, written.mtime_ns


@pytest.mark.parametrize("size", [0, 1000, BIG])
def test_tee_digests_are_those_of_the_file_written(tmp_path: Path, size: int):
    book = DigestBook()
    part = tmp_path / "media.mp4.part"
    _write(book, part, _payload(size))
    final = part.with_name("media.mp4")
    part.rename(final)  # what yt-dlp does when the download completes
    written = book.lookup(final)
    assert written is not None
    assert written.digests == digest_file(final)
    st = final.stat()
    assert (written.inode, written.size, written.mtime_ns) == (st.st_ino, size, st.st_mtime_ns)
    assert written.as_dict()["sha256"] == hashlib.sha256(final.read_bytes()).hexdigest()


def test_a_write_in_the_same_clock_tick_voids_the_record(tmp_path: Path):
    """Same size and, on a coarse clock, the same mtime: only the seal tells them apart.

    The kernel here may stamp finely; the test pins the later write's mtime to the one the
    last write through the tee got, which is what a coarse clock would do.
    """
    book = DigestBook()
    path = tmp_path / "media.mp4"
    stream = book.wrap(open(path, "wb"), "wb")
    stream.write(_payload(4096))
    stream.flush()
    tick = os.fstat(stream.fileno()).st_mtime_ns
    stream.close()
    with open(path, "r+b") as other:
        other.write(b"X")
    os.utime(path, ns=(tick, tick))
    assert book.lookup(path) is None


def test_a_new_file_in_place_of_a_recorded_one_is_not_vouched_for(tmp_path: Path):
    book = DigestBook()
    path = tmp_path / "frag1"
    for n in range(20):  # deleted and created again: inodes get reused
        _write(book, path, _payload(2048, seed=n))
        path.unlink()
        path.write_bytes(_payload(2048, seed=100 + n))
        assert book.lookup(path) is None


def test_seek_or_truncate_voids_the_tee(tmp_path: Path):
    book = DigestBook()
    for name, touch in (("seek", lambda s: s.seek(0)), ("truncate", lambda s: s.truncate(10))):
        path = tmp_path / name
        stream = book.wrap(open(path, "wb"), "wb")
        stream.write(_payload(100))
        touch(stream)
        stream.write(b"over")
        stream.close()
        assert book.lookup(path) is None


def test_writes_around_the_tee_are_noticed(tmp_path: Path):
    """Bytes written past the wrapper (straight to the descriptor) make the sizes differ."""
    book = DigestBook()
    path = tmp_path / "media"
    stream = book.wrap(open(path, "wb"), "wb")
    stream.write(b"abc")
    stream.flush()
    os.write(stream.fileno(), b"def")
    stream.close()
    assert book.lookup(path) is None


def test_writelines_goes_through_the_tee(tmp_path: Path):
    book = DigestBook()
    path = tmp_path / "lines"
    stream = book.wrap(open(path, "wb"), "wb")
    stream.writelines([b"one\n", b"two\n"])
    stream.close()
    assert _stamp(book, path)[0] == digest_file(path)


def test_a_resumed_download_counts_the_bytes_already_there(tmp_path: Path):
    book = DigestBook()
    data = _payload(BIG + 12345)
    path = tmp_path / "media.part"
    path.write_bytes(data[:5_000_000])  # left by an interrupted run, not through the tee
    _write(book, path, data[5_000_000:], mode="ab")
    assert _stamp(book, path)[0] == digest_file(path)
    assert path.read_bytes() == data


def test_large_files_go_to_disk_while_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    synced: list[int] = []
    fdatasync = os.fdatasync
    monkeypatch.setattr(tee, "WRITEBACK_EVERY", 1 << 20)
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(fd) or fdatasync(fd))
    book = DigestBook()
    path = tmp_path / "media.mp4"
    data = _payload(BIG)
    before = len(os.listdir("/proc/self/fd"))
    _write(book, path, data, chunk=256 << 10)
    assert synced  # in the background, on a descriptor of its own...
    assert len(os.listdir("/proc/self/fd")) == before  # ...closed with the stream
    assert _stamp(book, path)[0] == digest_file(path) and path.read_bytes() == data


def test_read_and_text_streams_are_left_alone(tmp_path: Path):
    book = DigestBook()
    path = tmp_path / "x"
    path.write_bytes(b"x")
    with open(path, "rb") as raw:
        assert book.wrap(raw, "rb") is raw
    with open(path, "r+b") as raw:
        assert book.wrap(raw, "r+b") is raw


# -- the store -----------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


def _stored_sha(store: FileStore, sha: str) -> str:
    return hashlib.sha256(store.path(blob_key(sha)).read_bytes()).hexdigest()


def test_store_links_the_hashed_file_without_reading_it_again(
    tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch
):
    book = DigestBook()
    path = tmp_path / "media.mp4"
    _write(book, path, _payload(BIG))
    known, inode, mtime_ns = _stamp(book, path)

    def no_rereading(*args, **kwargs):
        raise AssertionError("the store read the file again")

    monkeypatch.setattr(filesystem_store, "digest_file", no_rereading)
    assert store.put_hashed_file(path, known, inode=inode, mtime_ns=mtime_ns) == known
    assert _stored_sha(store, known.sha256) == known.sha256
    assert store.path(blob_key(known.sha256)).stat().st_ino == inode  # linked, not copied


def test_store_reads_again_a_file_changed_after_hashing(tmp_path: Path, store: FileStore):
    book = DigestBook()
    path = tmp_path / "media.mp4"
    _write(book, path, _payload(BIG))
    known, inode, mtime_ns = _stamp(book, path)
    with open(path, "r+b") as stream:  # same size, straight after
        stream.seek(BIG // 2)
        stream.write(b"tampered")
    actual = store.put_hashed_file(path, known, inode=inode, mtime_ns=mtime_ns)
    assert actual == digest_file(path) and actual != known
    assert _stored_sha(store, actual.sha256) == actual.sha256
    assert not store.exists(blob_key(known.sha256))  # nothing stored under the stale digest


def test_store_reads_again_when_the_stamp_is_not_the_files(tmp_path: Path, store: FileStore):
    path = tmp_path / "media.mp4"
    path.write_bytes(_payload(1000))
    st = path.stat()
    wrong = Digests(1000, "0" * 64, "0" * 128, "0" * 32)
    for inode, mtime_ns in ((st.st_ino + 1, st.st_mtime_ns), (st.st_ino, st.st_mtime_ns + 1)):
        actual = store.put_hashed_file(path, wrong, inode=inode, mtime_ns=mtime_ns)
        assert actual == digest_file(path)
    assert not store.exists(blob_key("0" * 64))


def test_stores_that_upload_hash_again_and_say_what_they_stored(tmp_path: Path, store: FileStore):
    """The base ``Store.put_hashed_file`` (S3 and any other store) reads the file anyway."""
    from preservation.store.base import Store

    path = tmp_path / "media.mp4"
    path.write_bytes(_payload(1000))
    st = path.stat()
    stale = Digests(1000, "1" * 64, "1" * 128, "1" * 32)
    actual = Store.put_hashed_file(store, path, stale, inode=st.st_ino, mtime_ns=st.st_mtime_ns)
    assert actual == digest_file(path)
    assert _stored_sha(store, actual.sha256) == actual.sha256
