"""The replicas' envelope encryption: round trips at segment edges, tampering, wrong keys."""

from __future__ import annotations

import io
import os

import pytest

from kernel.errors import ConfigError, StorageError
from preservation.store import envelope
from preservation.store.encrypted import EncryptedStore
from preservation.store.filesystem import FileStore

KEK = os.urandom(32)
SEG = envelope.SEGMENT


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 7])
def test_round_trip_and_sizes(size):
    data = os.urandom(size)
    sealed = envelope.encrypt_bytes(KEK, data)
    assert len(sealed) == envelope.ciphertext_size(size)
    assert envelope.plaintext_size(len(sealed)) == size
    assert envelope.decrypt_bytes(KEK, sealed, "x") == data
    assert size < 32 or data[:32] not in sealed


def test_every_kind_of_tampering_fails_its_tag():
    data = os.urandom(2 * SEG + 100)
    sealed = envelope.encrypt_bytes(KEK, data)
    flipped = bytearray(sealed)
    flipped[envelope.HEADER + SEG // 2] ^= 1
    body = sealed[envelope.HEADER :]
    first, second = body[: SEG + 16], body[SEG + 16 : 2 * (SEG + 16)]
    swapped = sealed[: envelope.HEADER] + second + first + body[2 * (SEG + 16) :]
    other = envelope.encrypt_bytes(KEK, data)  # same plaintext, another data key
    spliced = sealed[: envelope.HEADER] + other[envelope.HEADER :]
    for damaged in (
        bytes(flipped),
        sealed[:-17],
        sealed[: envelope.HEADER + SEG + 16],
        swapped,
        spliced,
    ):
        with pytest.raises(StorageError, match=r"fails its tag|truncated"):
            envelope.decrypt_bytes(KEK, damaged, "obj")


def test_a_wrong_or_missing_key_is_named_as_such():
    sealed = envelope.encrypt_bytes(KEK, b"evidence")
    with pytest.raises(envelope.KeyMismatch, match="wrong key-encryption key for obj"):
        envelope.decrypt_bytes(os.urandom(32), sealed, "obj")
    with pytest.raises(envelope.KeyMismatch, match="no key-encryption key is set"):
        envelope.decrypt_bytes(None, sealed, "obj")
    assert issubclass(envelope.KeyMismatch, ConfigError)  # exit 2
    with pytest.raises(ConfigError, match="32 bytes"):
        envelope.load_kek("too short")


def test_an_encrypted_file_store_keeps_plaintext_addresses(tmp_path):
    inner = FileStore(tmp_path / "vault")
    store = EncryptedStore(inner, KEK.hex(), spool_dir=tmp_path / "spool")
    digests = store.put_stream(io.BytesIO(b"a page the witness saw" * 1000))
    key = f"blobs/sha256/{digests.sha256[:2]}/{digests.sha256[2:4]}/{digests.sha256}"
    assert store.read_bytes(key) == b"a page the witness saw" * 1000
    assert store.stat(key).size == digests.size
    assert b"witness" not in inner.read_bytes(key)
    store.put_bytes("captures/s/c/manifest.json", b'{"a": 1}')
    store.put_bytes("captures/s/c/manifest.json", b'{"a": 1}')  # idempotent: same plaintext
    assert store.read_bytes("captures/s/c/manifest.json") == b'{"a": 1}'


def test_an_encrypted_replica_refuses_writes_under_another_key(tmp_path):
    inner = FileStore(tmp_path / "vault")
    EncryptedStore(inner, KEK.hex()).put_bytes("ledger/000000000001.json", b"{}")
    other = EncryptedStore(inner, os.urandom(32).hex())
    with pytest.raises(envelope.KeyMismatch, match=r"it takes key\(s\) .*: nothing written"):
        other.put_stream(io.BytesIO(b"more evidence"))
    assert sorted(inner.list()) == ["kek.json", "ledger/000000000001.json"]  # nothing written
