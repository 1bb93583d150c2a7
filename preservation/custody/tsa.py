"""RFC 3161 timestamp authorities: asking one, checking its answer, and whom to trust.

A token is verified on receipt (status, imprint, nonce, the signing chain up to one of
the operator's trusted roots) before anything is written: ``request_token`` returns only
tokens that already verify. Trusted roots live in ``<WITNESSBOX_HOME>/keys/tsa-roots.pem``
(a PEM bundle; ``witnessbox seal --trust CA.pem`` adds one). What gets timestamped, and
where tokens are kept, is ``preservation.custody.timestamps``'s business.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from kernel.errors import ConfigError, InputError, IntegrityError, WitnessboxError
from kernel.settings import Settings

log = logging.getLogger("witnessbox.tsa")
MAX_REPLY = 1 << 20
TIMEOUT = 30.0


class TimestampError(WitnessboxError):
    """No TSA could timestamp: the captures stay unsealed, nothing is lost (exit 1)."""


# -- trust roots and TSAs ---------------------------------------------------------------------
def roots_path(settings: Settings) -> Path:
    return settings.home / "keys" / "tsa-roots.pem"


def load_certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"no such certificate file: {path}") from None
    except ValueError as exc:
        raise InputError(f"{path} holds no PEM certificate: {exc}") from None


def trusted_roots(settings: Settings, extra: Iterable[Path] = ()) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    bundle = roots_path(settings)
    for path in [bundle, *extra] if bundle.exists() else list(extra):
        for cert in load_certificates(Path(path)):
            if cert not in roots:
                roots.append(cert)
    return roots


def trust_root(settings: Settings, pem_file: Path) -> list[str]:
    """Add a TSA's CA certificate(s) to the installation's bundle; return the new ones'
    fingerprints (empty when all were trusted already)."""
    certs = load_certificates(pem_file)
    bundle = roots_path(settings)
    known = load_certificates(bundle) if bundle.exists() else []
    added = [c for c in certs if c not in known]
    if added:
        bundle.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(bundle, "ab") as out:
            for cert in added:
                out.write(cert.public_bytes(serialization.Encoding.PEM))
    return [cert_fingerprint(c) for c in added]


def tsa_urls(settings: Settings, override: Iterable[str] = ()) -> list[str]:
    urls = [u.strip() for u in (list(override) or settings.tsa_urls.split(",")) if u.strip()]
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ConfigError(f"a TSA URL must be http(s)://host/...: {url!r}")
    return urls


def cert_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# -- DER quirks -------------------------------------------------------------------------------
def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of element) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    out = []
    pos = start
    while pos < end:
        tag, content, stop = _tlv(data, pos)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def normalise_certificate_order(reply: bytes) -> bytes:
    """Sort the token's ``certificates`` SET OF into DER order.

    OpenSSL-based TSAs emit the certificates in chain order, which strict DER parsers
    (rfc3161-client's) refuse. The set is not covered by the TSA's signature, and sorting
    keeps every length, so the stored answer stays byte-for-byte as received and only the
    copy we parse is reordered.
    """
    _, content, end = _tlv(reply, 0)
    token = _children(reply, content, end)[1]  # TimeStampResp.timeStampToken (ContentInfo)
    explicit = _children(reply, token[2], token[3])[1]  # [0] EXPLICIT content
    signed = _children(reply, explicit[2], explicit[3])[0]  # SignedData SEQUENCE
    for tag, _start, c_start, c_end in _children(reply, signed[2], signed[3]):
        if tag == 0xA0:  # certificates [0] IMPLICIT SET OF
            parts = [reply[s:e] for _t, s, _c, e in _children(reply, c_start, c_end)]
            width = max(len(p) for p in parts)
            ordered = b"".join(sorted(parts, key=lambda p: p.ljust(width, b"\0")))
            return reply[:c_start] + ordered + reply[c_end:]
    return reply


def decode_reply(reply: bytes) -> Any:
    from rfc3161_client import decode_timestamp_response

    try:
        return decode_timestamp_response(reply)
    except ValueError as first:
        try:
            return decode_timestamp_response(normalise_certificate_order(reply))
        except (ValueError, IndexError):
            raise ValueError(f"not an RFC 3161 answer: {first}") from None


def _verify(tsr: Any, message: bytes, root: x509.Certificate, nonce: int | None) -> None:
    from rfc3161_client import VerifierBuilder

    builder = VerifierBuilder().add_root_certificate(root)
    if nonce is not None:
        builder = builder.nonce(nonce)
    builder.build().verify_message(tsr, message)


def verify_token(
    reply: bytes, message: bytes, roots: list[x509.Certificate], nonce: int | None = None
) -> tuple[Any, x509.Certificate]:
    """Decode and verify a TSA answer over ``message``; return it and the root that holds."""
    from rfc3161_client import VerificationError

    tsr = decode_reply(reply)
    errors = []
    for root in roots:
        try:
            _verify(tsr, message, root, nonce)
            return tsr, root
        except (VerificationError, ValueError) as exc:
            errors.append(str(exc))
    raise IntegrityError(
        "the timestamp token does not verify against any trusted root: "
        + ("; ".join(sorted(set(errors))) or "no trusted TSA roots")
    )


@dataclass
class Token:
    tsa: str
    reply: bytes
    tsr: Any
    root: x509.Certificate

    def chain_pem(self) -> bytes:
        embedded = [x509.load_der_x509_certificate(c) for c in self.tsr.signed_data.certificates]
        certs = [c for c in embedded if c != self.root] + [self.root]
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def request_token(url: str, message: bytes, roots: list[x509.Certificate]) -> Token:
    """Ask one TSA to timestamp ``message``; verify the answer before returning it."""
    from rfc3161_client import HashAlgorithm, PKIStatus, TimestampRequestBuilder

    request = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .cert_request(cert_request=True)
        .build()
    )
    http = urllib.request.Request(  # noqa: S310 - tsa_urls() allows http(s) only
        url,
        data=request.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(http, timeout=TIMEOUT) as answer:  # noqa: S310 - checked
            reply = answer.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"{url} is unreachable: {reason}") from None
    if len(reply) > MAX_REPLY:
        raise TimestampError(f"{url} sent an oversized answer")
    try:
        tsr = decode_reply(reply)
    except ValueError as exc:
        raise TimestampError(f"{url} sent something else than a timestamp: {exc}") from None
    if tsr.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampError(f"{url} refused: status {tsr.status} {tsr.status_string}")
    try:
        tsr, root = verify_token(reply, message, roots, nonce=request.nonce)
    except IntegrityError as exc:
        raise TimestampError(f"{url}: {exc}") from None
    return Token(url, reply, tsr, root)
