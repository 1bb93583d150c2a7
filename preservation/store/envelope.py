"""Envelope encryption for replicas: AES-256-GCM, a fresh data key per object.

The installation's key-encryption key (KEK, 32 bytes from a secret, never stored) wraps each
object's random data key; the object is then sealed in segments so that a blob of any size
streams through a fixed buffer. Layout of an encrypted object::

    magic "WBXENC1\\n" | kek id (16) | wrap nonce (12) | wrapped data key (32 + 16 tag)
    | nonce prefix (8) | segment 0 | segment 1 | ... | last segment

Each segment is ``SEGMENT`` plaintext bytes (the last may be shorter, even empty) plus a
16-byte tag, sealed with nonce = prefix || counter (4 bytes, big-endian) and the header plus
a "last" flag as associated data: segments cannot be reordered, dropped, swapped between
objects or truncated without the tag failing. The KEK id (the first 16 bytes of
sha256("witnessbox-kek" || KEK)) lets a wrong key be named as such instead of looking like
damage. Content addresses and digests stay those of the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel.errors import ConfigError, StorageError

ALGORITHM = "AES-256-GCM"
MAGIC = b"WBXENC1\n"
SEGMENT = 1 << 20
TAG = 16
HEADER = len(MAGIC) + 16 + 12 + 32 + TAG + 8


class KeyMismatch(ConfigError):
    """The object was encrypted under another key-encryption key (or none is set)."""


def load_kek(secret: str) -> bytes:
    """32 key bytes from their base64 or hex text; ConfigError for anything else."""
    text = secret.strip()
    for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
        try:
            key = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ConfigError("the key-encryption key must be 32 bytes, written as base64 or hex")


def kek_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"witnessbox-kek" + kek).digest()[:16]


def keyring(keks: Iterable[bytes]) -> dict[bytes, bytes]:
    """Key id → key, for reading objects sealed under any of ``keks``."""
    return {kek_id(k): k for k in keks}


def ciphertext_size(plain: int) -> int:
    segments = max(1, -(-plain // SEGMENT))
    return HEADER + plain + TAG * segments


def plaintext_size(cipher: int) -> int:
    body = cipher - HEADER
    if body < TAG:
        return -1  # not an envelope: the audit reports the size mismatch
    segments = -(-body // (SEGMENT + TAG))
    return body - TAG * segments


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + counter.to_bytes(4, "big")


class Encryptor:
    """Seal one object: ``header()`` then ``seal(segment, last)`` per segment, in order."""

    def __init__(self, kek: bytes) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce = os.urandom(12)
        kid = kek_id(kek)
        wrapped = AESGCM(kek).encrypt(wrap_nonce, data_key, MAGIC + kid)
        self._prefix = os.urandom(8)
        self._header = MAGIC + kid + wrap_nonce + wrapped + self._prefix
        self._aead = AESGCM(data_key)
        self._counter = 0

    def header(self) -> bytes:
        return self._header

    def seal(self, segment: bytes, last: bool) -> bytes:
        nonce = _nonce(self._prefix, self._counter)
        self._counter += 1
        return self._aead.encrypt(nonce, segment, self._header + (b"\x01" if last else b"\x00"))


class EncryptingWriter:
    """A file-like sink: plaintext in, the sealed object out to ``out`` (``finish`` at the end)."""

    def __init__(self, kek: bytes, out: BinaryIO) -> None:
        self._enc = Encryptor(kek)
        self._out = out
        self._pending = bytearray()
        out.write(self._enc.header())

    def write(self, data: bytes) -> int:
        self._pending += data
        while len(self._pending) > SEGMENT:  # keep one segment back: it may be the last
            self._out.write(self._enc.seal(bytes(self._pending[:SEGMENT]), last=False))
            del self._pending[:SEGMENT]
        return len(data)

    def finish(self) -> None:
        self._out.write(self._enc.seal(bytes(self._pending), last=True))
        self._pending.clear()


def encrypt_stream(kek: bytes, source: BinaryIO, out: BinaryIO) -> tuple[str, int]:
    """Encrypt ``source`` into ``out``; the plaintext's sha256 and size (one read)."""
    writer = EncryptingWriter(kek, out)
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(SEGMENT):
        digest.update(chunk)
        size += len(chunk)
        writer.write(chunk)
    writer.finish()
    return digest.hexdigest(), size


def encrypt_bytes(kek: bytes, data: bytes) -> bytes:
    out = io.BytesIO()
    encrypt_stream(kek, io.BytesIO(data), out)
    return out.getvalue()


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted object, segment by segment, each tag checked."""

    def __init__(
        self, stream: BinaryIO, kek: bytes | Mapping[bytes, bytes] | None, where: str
    ) -> None:
        """``kek``: the key, or a keyring (key id → key: the current and rotated-out keys)."""
        super().__init__()
        self._stream = stream
        self._where = where
        header = self._read_exact(HEADER, allow_short=True)
        if len(header) < HEADER or not header.startswith(MAGIC):
            raise StorageError(f"{where} is not a witnessbox encrypted object (damaged header)")
        kid = header[len(MAGIC) : len(MAGIC) + 16]
        ring = keyring([kek]) if isinstance(kek, bytes) else dict(kek or {})
        if not ring:
            raise KeyMismatch(
                f"{where} is encrypted and no key-encryption key is set "
                "(WITNESSBOX_KEK or the Airflow connection witnessbox_kek)"
            )
        if kid not in ring:
            held = ", ".join(k.hex()[:16] for k in ring)
            raise KeyMismatch(
                f"wrong key-encryption key for {where}: it was encrypted under key "
                f"{kid.hex()[:16]}, this installation's key(s): {held} (a key rotated out "
                "belongs in WITNESSBOX_KEK_PREVIOUS)"
            )
        kek = ring[kid]
        offset = len(MAGIC) + 16
        wrap_nonce = header[offset : offset + 12]
        wrapped = header[offset + 12 : offset + 12 + 32 + TAG]
        try:
            data_key = AESGCM(kek).decrypt(wrap_nonce, wrapped, MAGIC + kid)
        except InvalidTag:
            raise StorageError(f"{where}: the wrapped data key fails its tag (damaged)") from None
        self._header = header
        self._prefix = header[-8:]
        self._aead = AESGCM(data_key)
        self._counter = 0
        self._buffer = memoryview(b"")
        self._next = self._read_exact(SEGMENT + TAG, allow_short=True)
        self._done = False

    def _read_exact(self, n: int, allow_short: bool = False) -> bytes:
        parts, got = [], 0
        while got < n:
            chunk = self._stream.read(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def _advance(self) -> None:
        current = self._next
        self._next = self._read_exact(SEGMENT + TAG, allow_short=True) if current else b""
        last = not self._next
        if len(current) < TAG:
            raise StorageError(f"{self._where} is truncated")
        nonce = _nonce(self._prefix, self._counter)
        self._counter += 1
        try:
            self._buffer = memoryview(
                self._aead.decrypt(nonce, current, self._header + (b"\x01" if last else b"\x00"))
            )
        except InvalidTag:
            raise StorageError(
                f"{self._where}: segment {self._counter - 1} fails its tag (damaged ciphertext)"
            ) from None
        self._done = last

    def readinto(self, buffer: Any) -> int:
        while not self._buffer:
            if self._done:
                return 0
            self._advance()
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def decrypt_bytes(kek: bytes | None, data: bytes, where: str) -> bytes:
    return DecryptingReader(io.BytesIO(data), kek, where).read()
