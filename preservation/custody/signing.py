"""Ed25519 signatures over manifests: one key per installation, detached signatures.

A manifest names the key that signed it (``signing`` object, inside the signed bytes, so it
cannot be swapped) and the store keeps the public key as ``keys/<fingerprint>.pub``. The
signature is written as ``manifest.sig`` *before* the manifest, so no capture ever exists
unsigned. Ed25519 is deterministic: signing the same bytes again yields the same signature,
which keeps the put-if-absent commit protocol idempotent across retries.

The signature file holds the 64 raw signature bytes, so anyone can check it without
witnessbox::

    openssl pkeyutl -verify -pubin -inkey keys/<fp>.pub -rawin \\
        -in manifest.json -sigfile manifest.sig
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from kernel.errors import (
    ConfigError,
    IntegrityError,
    MissingObjectError,
    Problem,
    StorageError,
    read_problem,
)
from kernel.settings import Settings
from preservation.store import Store

log = logging.getLogger("witnessbox.signing")
ALGORITHM = "ed25519"
SIGNATURE_NAME = "manifest.sig"
SIGNATURE_SIZE = 64


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key, hex: short enough for a key name, unambiguous."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_key(key_fingerprint: str) -> str:
    return f"keys/{key_fingerprint}.pub"


def signature_key(manifest_key: str) -> str:
    """``captures/<s>/<c>/manifest.json`` → ``captures/<s>/<c>/manifest.sig``."""
    return manifest_key.rsplit("/", 1)[0] + "/" + SIGNATURE_NAME


@dataclass(frozen=True)
class Signer:
    """A private key and what the manifests say about it."""

    private_key: Ed25519PrivateKey

    @classmethod
    def from_pem(cls, data: bytes, origin: str = "the signing key") -> Signer:
        """Also the entry point for keys held elsewhere (an Airflow connection, a vault)."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{origin} is not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{origin} is not an Ed25519 key")
        return cls(key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def info(self) -> dict[str, Any]:
        """The manifest's ``signing`` object."""
        return {
            "algorithm": ALGORITHM,
            "key_fingerprint": self.fingerprint,
            "public_key": public_key_key(self.fingerprint),
            "signature": SIGNATURE_NAME,
        }

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def publish(self, store: Store) -> str:
        """Put the public key into the store (write-once, idempotent); return its key."""
        key = public_key_key(self.fingerprint)
        store.put_bytes(key, public_pem(self.public_key), "application/x-pem-file")
        return key


# -- the installation's key -------------------------------------------------------------------
def default_key_path(settings: Settings) -> Path:
    return settings.home / "keys" / "signing.pem"


def create_key(path: Path) -> Signer:
    """Write a new key with mode 0600 (refusing to replace one: a key is never rotated away)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(path)  # another process won the race: use its key
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return Signer(key)


def load_key(path: Path) -> Signer:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"signing key {path} does not exist: run `witnessbox init`") from None
    except OSError as exc:
        raise ConfigError(f"cannot read signing key {path}: {exc.strerror}") from None
    if mode & 0o077:
        log.warning("signing key %s is readable by others (mode %o)", path, mode & 0o777)
    return Signer.from_pem(data, f"signing key {path}")


_cache: dict[tuple[str, int, int], Signer] = {}
_cache_lock = threading.Lock()


def signer_for(settings: Settings, create: bool | None = None) -> Signer:
    """The installation's signer, cached per key file.

    The key is created on first use only at the default path inside ``WITNESSBOX_HOME``: a
    configured path that is missing (an unmounted secret) is an error, never a new key.
    """
    if settings.signing_key_pem:
        return _signer_from_secret(settings.signing_key_pem)
    path = Path(settings.signing_key).expanduser()
    if create is None:
        create = path == default_key_path(settings)
    with _cache_lock:
        if not path.exists():
            if not create:
                raise ConfigError(f"signing key {path} does not exist")
            signer = create_key(path)
            log.info("created signing key %s (%s)", path, signer.fingerprint)
        st = path.stat()
        marker = (str(path), st.st_ino, st.st_mtime_ns)
        if marker not in _cache:
            _cache[marker] = load_key(path)
        return _cache[marker]


def _signer_from_secret(pem: str) -> Signer:
    """A key held as a secret (never written to disk here), cached by its digest."""
    marker = ("pem", hash(hashlib.sha256(pem.encode()).digest()), 0)
    with _cache_lock:
        if marker not in _cache:
            _cache[marker] = Signer.from_pem(
                pem.encode(), origin="the signing key given as a secret (signing_key_pem)"
            )
        return _cache[marker]


def init_step(settings: Settings, store: Store) -> dict[str, Any]:
    """``witnessbox init``: create the key (0600) and publish its public half."""
    if settings.signing_key_pem:
        signer = signer_for(settings)
        signer.publish(store)
        return {"signing_key": "given as a secret", "key_fingerprint": signer.fingerprint}
    path = Path(settings.signing_key).expanduser()
    existed = path.exists()
    signer = signer_for(settings, create=True)
    signer.publish(store)
    return {
        "signing_key": f"{path} ({'existing' if existed else 'created'})",
        "key_fingerprint": signer.fingerprint,
    }


# -- signing and checking manifests -----------------------------------------------------------
def sign_manifest(store: Store, signer: Signer, manifest_key: str, data: bytes) -> str:
    """Publish the public key and write the detached signature; return the signature key.

    Called before the manifest itself is written (see ``preservation.pipeline``).
    """
    signer.publish(store)
    key = signature_key(manifest_key)
    store.put_bytes(key, signer.sign(data), "application/octet-stream")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def check_manifest_signature(
    store: Store,
    manifest_key: str,
    manifest: dict[str, Any],
    data: bytes,
    keys: dict[str, Ed25519PublicKey] | None = None,
) -> list[Problem]:
    """Every problem with a manifest's signature (empty list: it verifies).

    ``keys`` caches public keys by fingerprint across many manifests.
    """
    info = manifest.get("signing")
    if not isinstance(info, dict) or info.get("algorithm") != ALGORITHM:
        return [Problem("unsigned", manifest_key, "the manifest names no Ed25519 signing key")]
    fp = str(info.get("key_fingerprint", ""))
    sig_key = signature_key(manifest_key)
    problems: list[Problem] = []
    keys = {} if keys is None else keys
    public = keys.get(fp)
    if public is None:
        pub_key = public_key_key(fp) if len(fp) == 64 and fp.isalnum() else ""
        try:
            if not pub_key:
                raise ValueError(f"malformed key fingerprint {fp!r}")
            public = load_public_key(store.read_bytes(pub_key))
        except StorageError as exc:
            missing = isinstance(exc, MissingObjectError)
            problems.append(Problem("missing-key" if missing else "unreadable", pub_key, str(exc)))
            return problems
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # not a usable key
            problems.append(Problem("missing-key", pub_key or manifest_key, str(exc)))
            return problems
        if fingerprint(public) != fp:
            problems.append(Problem("bad-key", pub_key, "public key does not match its name"))
            return problems
        keys[fp] = public
    try:
        signature = store.read_bytes(sig_key)
    except StorageError as exc:
        return [read_problem(sig_key, exc, "the manifest's detached signature")]
    try:
        public.verify(signature, data)
    except InvalidSignature:
        problems.append(
            Problem("bad-signature", sig_key, f"does not verify {manifest_key} with key {fp[:16]}")
        )
    return problems


def verify_manifest_signature(store: Store, manifest_key: str, data: bytes) -> None:
    """Raise ``IntegrityError`` unless the stored signature verifies ``data``."""
    import json

    problems = check_manifest_signature(store, manifest_key, json.loads(data), data)
    if problems:
        raise IntegrityError(f"signature check failed: {problems[0]}", problems)
