from __future__ import annotations

import hashlib
import io
import os

import pytest

from hashing import crypto


def reference(data: bytes) -> crypto.Digests:
    return crypto.Digests(len(data), hashlib.sha256(data).hexdigest(),
                          hashlib.sha512(data).hexdigest(), hashlib.md5(data).hexdigest())


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK_SIZE - 1, crypto.CHUNK_SIZE,
                                  crypto.CHUNK_SIZE + 1, crypto.PARALLEL_THRESHOLD + 12345])
@pytest.mark.parametrize("parallel", [None, True, False])
def test_digests_match_hashlib(size, parallel):
    data = os.urandom(size)
    assert crypto.digest_stream(io.BytesIO(data), parallel=parallel) == reference(data)


def test_tee_writes_exactly_what_it_hashes():
    data = os.urandom(3 * crypto.CHUNK_SIZE + 7)
    out = io.BytesIO()
    digests = crypto.copy_and_digest(io.BytesIO(data), out, parallel=True)
    assert out.getvalue() == data and digests == reference(data)


def test_buffer_reuse_does_not_corrupt_parallel_hashing():
    hasher = crypto.MultiHasher(parallel=True)
    buf = bytearray(1 << 20)
    chunks = []
    for i in range(20):
        buf[:] = bytes([i]) * len(buf)
        hasher.update(buf)  # the caller reuses its buffer at once
        chunks.append(bytes(buf))
    assert hasher.finish() == reference(b"".join(chunks))


def test_finished_hasher_refuses_more_input():
    hasher = crypto.MultiHasher()
    hasher.update(b"x")
    hasher.finish()
    with pytest.raises(ValueError):
        hasher.update(b"y")


def test_file_helpers(tmp_path):
    path = tmp_path / "f"
    data = os.urandom(100_000)
    path.write_bytes(data)
    assert crypto.digest_file(path) == reference(data)
    assert crypto.sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert crypto.Digests.from_dict(crypto.digest_bytes(data).as_dict()) == reference(data)
