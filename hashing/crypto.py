"""Cryptographic digests in one streaming pass.

Every artifact gets sha256 (the primary, content address), sha512 (long-term strength) and
md5 (what older evidence systems and hash lists still speak). Each byte is read once: the
``MultiHasher`` is fed as a tee while a stream is copied into the store. On large inputs
each algorithm runs in its own thread: OpenSSL's hashlib releases the GIL, so the three
digests cost about as much wall time as the slowest of them rather than their sum.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

ALGORITHMS: tuple[str, ...] = ("sha256", "sha512", "md5")
CHUNK_SIZE = 4 << 20
#: Below this many bytes, threads cost more than they save.
PARALLEL_THRESHOLD = 8 << 20
#: Chunks in flight per digest thread: bounds memory to about QUEUE_DEPTH * CHUNK_SIZE.
QUEUE_DEPTH = 6


@dataclass(frozen=True)
class Digests:
    size: int
    sha256: str
    sha512: str
    md5: str

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Digests:
        return cls(int(data["size"]), data["sha256"], data["sha512"], data["md5"])


_STOP = object()


class _DigestWorker(threading.Thread):
    def __init__(self, digest: hashlib._Hash) -> None:
        super().__init__(daemon=True, name=f"digest-{digest.name}")
        self.digest = digest
        self.chunks: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: BaseException | None = None

    def run(self) -> None:
        update = self.digest.update
        while (chunk := self.chunks.get()) is not _STOP:
            if self.error is None:
                try:
                    update(chunk)
                except BaseException as exc:  # surfaced by finish()
                    self.error = exc


class MultiHasher:
    """Computes every algorithm over the bytes given to ``update``, in order.

    ``parallel=None`` decides by size: small inputs hash inline, and once the input passes
    ``PARALLEL_THRESHOLD`` each digest moves to its own thread.
    """

    def __init__(self, parallel: bool | None = None) -> None:
        self._digests = [hashlib.new(name) for name in ALGORITHMS]
        self._parallel = parallel
        self._workers: list[_DigestWorker] | None = None
        self._size = 0
        self._result: Digests | None = None
        if parallel:
            self._start_workers()

    def _start_workers(self) -> None:
        self._workers = [_DigestWorker(d) for d in self._digests]
        for worker in self._workers:
            worker.start()

    @property
    def size(self) -> int:
        return self._size

    def update(self, chunk: bytes) -> None:
        if self._result is not None:
            raise ValueError("hasher already finished")
        if not chunk:
            return
        chunk = bytes(
            chunk
        )  # immutable: threads may still read it after the caller reuses a buffer
        self._size += len(chunk)
        if self._workers is None and self._parallel is None and self._size > PARALLEL_THRESHOLD:
            self._start_workers()
        if self._workers is None:
            for digest in self._digests:
                digest.update(chunk)
        else:
            for worker in self._workers:
                worker.chunks.put(chunk)

    def finish(self) -> Digests:
        if self._result is None:
            if self._workers is not None:
                for worker in self._workers:
                    worker.chunks.put(_STOP)
                for worker in self._workers:
                    worker.join()
                    if worker.error is not None:
                        raise worker.error
            values = {d.name: d.hexdigest() for d in self._digests}
            self._result = Digests(self._size, values["sha256"], values["sha512"], values["md5"])
        return self._result


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


def digest_chunks(chunks: Iterable[bytes], parallel: bool | None = None) -> Digests:
    hasher = MultiHasher(parallel)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.finish()


def digest_stream(stream: BinaryIO, parallel: bool | None = None) -> Digests:
    return digest_chunks(iter_chunks(stream), parallel)


def digest_file(path: str | Path, parallel: bool | None = None) -> Digests:
    with open(path, "rb") as stream:
        return digest_stream(stream, parallel)


def digest_bytes(data: bytes) -> Digests:
    return digest_chunks([data], parallel=False)


def copy_and_digest(src: BinaryIO, dst: BinaryIO, parallel: bool | None = None) -> Digests:
    """Copy ``src`` into ``dst`` and digest exactly the bytes written (the hashing tee)."""
    hasher = MultiHasher(parallel)
    for chunk in iter_chunks(src):
        dst.write(chunk)
        hasher.update(chunk)
    return hasher.finish()


def sha256_file(path: str | Path) -> str:
    """The primary digest alone: what fixity audits recompute."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter_chunks(stream):
            digest.update(chunk)
    return digest.hexdigest()
