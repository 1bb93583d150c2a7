"""RFC 3161 trusted timestamps: seal many manifests with one token per TSA.

``witnessbox seal`` gathers the captures not sealed yet, builds a Merkle tree over their
manifest digests (plus the custody ledger's head, so a truncated ledger shows), and asks
each configured TSA to timestamp the 32-byte root. Each token is verified on receipt
against the operator's trusted TSA roots before anything is written. Then, write-once:

    seals/<batch>/tsa-<i>.tsr          the TSA's answer (TimeStampResp, DER, as received)
    seals/<batch>/tsa-<i>.chain.pem    the certificates it was verified with (root included)
    seals/<batch>/seal.json            the batch: root, leaves, tokens (the batch exists now)
    captures/<s>/<c>/seals/<batch>.json  each capture's inclusion proof

Offline-first: when no TSA answers, nothing is written and the captures simply wait for the
next run. Anyone can check a seal with standard tools: ``openssl ts -verify -data root.bin
-in tsa-0.tsr -CAfile tsa-0.chain.pem`` where ``root.bin`` holds the 32 root bytes, and the
proof with sha256 (see ``preservation.custody.merkle``).

Trusted roots: ``<WITNESSBOX_HOME>/keys/tsa-roots.pem`` (a PEM bundle) plus ``--trust``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from kernel.canonical import canonical_json
from kernel.errors import (
    ConfigError,
    Findings,
    InputError,
    IntegrityError,
    Problem,
    StorageError,
    WitnessboxError,
    read_problem,
)
from kernel.ids import isoformat, parse_time
from kernel.settings import Settings
from preservation.catalogue.models import Base, Capture, Catalogue
from preservation.custody import merkle
from preservation.store import Store

if TYPE_CHECKING:
    from preservation.runtime import Runtime

log = logging.getLogger("witnessbox.timestamps")
SEAL_SCHEMA = "urn:witnessbox:seal:1"
PROOF_SCHEMA = "urn:witnessbox:seal-proof:1"
MAX_REPLY = 1 << 20
MAX_BATCH = 50_000
TIMEOUT = 30.0


class TimestampError(WitnessboxError):
    """No TSA could timestamp: the captures stay unsealed, nothing is lost (exit 1)."""


# -- catalogue tables (migration custody01) ---------------------------------------------------
class SealBatch(Base):
    __tablename__ = "seal_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime]
    root: Mapped[str] = mapped_column(String(64))
    leaves: Mapped[int] = mapped_column(Integer)
    record_key: Mapped[str] = mapped_column(String(512))
    tokens: Mapped[list[str]] = mapped_column(default=list)  # TSA URLs that answered


class SealedCapture(Base):
    __tablename__ = "sealed_captures"

    capture_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(Integer)
    proof_key: Mapped[str] = mapped_column(String(512))


# -- keys -------------------------------------------------------------------------------------
def batch_prefix(batch_id: str) -> str:
    return f"seals/{batch_id}/"


def record_key(batch_id: str) -> str:
    return f"seals/{batch_id}/seal.json"


def proof_key(manifest_key: str, batch_id: str) -> str:
    return f"{manifest_key.rsplit('/', 1)[0]}/seals/{batch_id}.json"


def ledger_head_item(seq: int, entry_hash: str) -> bytes:
    return f"witnessbox-ledger-head:{seq}:{entry_hash}".encode()


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

    def summary(self, index: int, batch_id: str) -> dict[str, Any]:
        info = self.tsr.tst_info
        return {
            "tsa": self.tsa,
            "token": f"{batch_prefix(batch_id)}tsa-{index}.tsr",
            "chain": f"{batch_prefix(batch_id)}tsa-{index}.chain.pem",
            "token_sha256": hashlib.sha256(self.reply).hexdigest(),
            "root_sha256": cert_fingerprint(self.root),
            "gen_time": isoformat(info.gen_time.replace(tzinfo=info.gen_time.tzinfo or UTC)),
            "serial": str(info.serial_number),
            "policy": info.policy.dotted_string,
        }


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


# -- sealing ----------------------------------------------------------------------------------
@dataclass
class SealOutcome(Findings):
    """One seal run; its problems are the captures it would not seal (not intact)."""

    batch_id: str | None = None
    root: str | None = None
    sealed: list[str] = field(default_factory=list)
    tsas: list[str] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # TSAs that did not answer

    @property
    def problems(self) -> list[Problem]:
        return self.skipped

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "root": self.root,
            "sealed": self.sealed,
            "tsas": self.tsas,
            "tsa_failures": self.failures,
            "skipped": [str(p) for p in self.skipped],
        }


def unsealed_captures(catalogue: Catalogue, limit: int = MAX_BATCH) -> list[Capture]:
    with catalogue.session() as session:
        sealed = select(SealedCapture.capture_id)
        return list(
            session.scalars(
                select(Capture).where(Capture.id.not_in(sealed)).order_by(Capture.id).limit(limit)
            )
        )


def _check_before_sealing(store: Store, capture: Capture) -> tuple[str | None, Problem | None]:
    """Only what is intact gets sealed: the manifest must be the indexed one and signed."""
    from preservation.custody.signing import check_manifest_signature

    try:
        data = store.read_bytes(capture.manifest_key)
    except StorageError as exc:
        return None, read_problem(capture.manifest_key, exc)
    digest = hashlib.sha256(data).hexdigest()
    if digest != capture.manifest_sha256:
        return None, Problem("manifest-changed", capture.manifest_key, "differs from its index")
    problems = check_manifest_signature(store, capture.manifest_key, json.loads(data), data)
    if problems:
        return None, problems[0]
    return digest, None


def seal(
    rt: Runtime,
    urls: list[str],
    roots: list[x509.Certificate],
    limit: int = MAX_BATCH,
) -> SealOutcome:
    """Seal every unsealed capture (up to ``limit``) in one batch; see the module docstring."""
    from preservation.custody.ledger import actor_of, ledger_for
    from preservation.runtime import file_lock

    if not urls:
        raise ConfigError("no TSA configured: set WITNESSBOX_TSA_URLS or pass --tsa URL")
    if not roots:
        raise ConfigError(
            f"no trusted TSA root: add the TSA's CA certificate to {roots_path(rt.settings)} "
            "(witnessbox seal --trust CA.pem)"
        )
    outcome = SealOutcome()
    with file_lock(rt.settings.home / "locks" / "seal.lock"):
        restore(rt.store, rt.catalogue)  # batches written by a run that died before indexing
        candidates = unsealed_captures(rt.catalogue, limit)
        leaves: list[dict[str, Any]] = []
        for capture in candidates:
            digest, problem = _check_before_sealing(rt.store, capture)
            if problem is not None:
                outcome.skipped.append(problem)
                continue
            leaves.append(
                {
                    "capture_id": capture.id,
                    "manifest_key": capture.manifest_key,
                    "manifest_sha256": digest,
                }
            )
        if not leaves:
            return outcome
        ledger = ledger_for(rt)
        head = ledger.sync_tail()
        items = [bytes.fromhex(leaf["manifest_sha256"]) for leaf in leaves]
        if head is not None:
            items.append(ledger_head_item(head["seq"], head["entry_hash"]))
        root, proofs = merkle.build(items)
        tokens: list[Token] = []
        for url in urls:
            rt.progress(f"timestamping {len(leaves)} capture(s) at {url}")
            try:
                tokens.append(request_token(url, root, roots))
            except TimestampError as exc:
                outcome.failures.append(str(exc))
                log.warning("%s", exc)
        if not tokens:
            raise TimestampError(
                "no TSA answered ("
                + "; ".join(outcome.failures)
                + f"): {len(leaves)} capture(s) stay unsealed until the next `witnessbox seal`"
            )
        batch_id = rt.new_id()
        now = rt.clock()
        summaries = [t.summary(i, batch_id) for i, t in enumerate(tokens)]
        for token, info in zip(tokens, summaries, strict=True):
            rt.store.put_bytes(info["token"], token.reply, "application/timestamp-reply")
            rt.store.put_bytes(info["chain"], token.chain_pem(), "application/x-pem-file")
        record = {
            "schema": SEAL_SCHEMA,
            "batch": batch_id,
            "created_at": isoformat(now),
            "tree": merkle.TREE,
            "root": root.hex(),
            "timestamped": "the 32 root bytes (message imprint: sha256 of them)",
            "leaves": [{"index": i, **leaf} for i, leaf in enumerate(leaves)],
            "ledger_head": None
            if head is None
            else {"index": len(leaves), "seq": head["seq"], "hash": head["entry_hash"]},
            "tokens": summaries,
        }
        rt.store.put_bytes(record_key(batch_id), canonical_json(record))
        for i, leaf in enumerate(leaves):
            rt.store.put_bytes(
                proof_key(leaf["manifest_key"], batch_id),
                canonical_json(
                    {
                        "schema": PROOF_SCHEMA,
                        "batch": batch_id,
                        "seal": record_key(batch_id),
                        "capture_id": leaf["capture_id"],
                        "manifest_sha256": leaf["manifest_sha256"],
                        "leaf_index": i,
                        "root": root.hex(),
                        "proof": proofs[i],
                        "tokens": [s["token"] for s in summaries],
                    }
                ),
            )
        _index_batch(rt.catalogue, record)
        ledger.append(
            "sealed",
            record_key(batch_id),
            actor_of(rt),
            {
                "batch": batch_id,
                "root": root.hex(),
                "captures": [leaf["capture_id"] for leaf in leaves],
                "ledger_head": record["ledger_head"],
                "tokens": [
                    {k: s[k] for k in ("tsa", "gen_time", "token_sha256", "root_sha256")}
                    for s in summaries
                ],
            },
            now,
        )
    outcome.batch_id, outcome.root = batch_id, root.hex()
    outcome.sealed = [leaf["capture_id"] for leaf in leaves]
    outcome.tsas = [t.tsa for t in tokens]
    return outcome


def seal_configured(rt: Runtime, limit: int = MAX_BATCH) -> SealOutcome | None:
    """What the seal DAG runs: the configured TSAs and roots; None while no TSA is set."""
    urls = tsa_urls(rt.settings)
    if not urls:
        return None  # offline-first: captures wait unsealed until a TSA is configured
    return seal(rt, urls, trusted_roots(rt.settings), limit)


def _index_batch(catalogue: Catalogue, record: dict[str, Any]) -> bool:
    batch_id = record["batch"]
    with catalogue.session.begin() as session:
        if session.get(SealBatch, batch_id) is not None:
            return False
        session.add(
            SealBatch(
                id=batch_id,
                created_at=parse_time(record["created_at"]),
                root=record["root"],
                leaves=len(record["leaves"]),
                record_key=record_key(batch_id),
                tokens=[t["tsa"] for t in record["tokens"]],
            )
        )
        for leaf in record["leaves"]:
            session.add(
                SealedCapture(
                    capture_id=leaf["capture_id"],
                    batch_id=batch_id,
                    leaf_index=leaf["index"],
                    proof_key=proof_key(leaf["manifest_key"], batch_id),
                )
            )
    return True


def restore(store: Store, catalogue: Catalogue) -> tuple[int, list[Problem]]:
    """Index the seal batches found in the store (reindex, or after a crash)."""
    with catalogue.session() as session:
        known = set(session.scalars(select(SealBatch.id)))
    added, problems = 0, []
    for key in store.list("seals/"):
        if not key.endswith("/seal.json") or key.split("/")[1] in known:
            continue
        try:
            record = json.loads(store.read_bytes(key))
            if record.get("schema") != SEAL_SCHEMA or record_key(record["batch"]) != key:
                raise ValueError("not a seal record for this key")
        except (StorageError, ValueError, KeyError) as exc:
            problems.append(Problem("unreadable", key, str(exc)))
            continue
        added += _index_batch(catalogue, record)
    return added, problems


def ledger_anchors(store: Store) -> list[tuple[int, str, str]]:
    """(seq, hash, where) of every ledger head a seal timestamped."""
    anchors = []
    for key in store.list("seals/"):
        if key.endswith("/seal.json"):
            try:
                head = json.loads(store.read_bytes(key)).get("ledger_head")
            except (StorageError, ValueError):
                continue  # `verify` names unreadable seal records
            if head:
                anchors.append((int(head["seq"]), str(head["hash"]), key))
    return anchors


# -- verification -----------------------------------------------------------------------------
class SealChecker:
    """Checks captures' seals; each batch (record, tokens, tree) is checked once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._batches: dict[str, tuple[dict[str, Any] | None, list[Problem]]] = {}

    def batch(self, batch_id: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        if batch_id not in self._batches:
            self._batches[batch_id] = self._check_batch(batch_id)
        return self._batches[batch_id]

    def _check_batch(self, batch_id: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        key = record_key(batch_id)
        try:
            record = json.loads(self.store.read_bytes(key))
        except StorageError as exc:
            return None, [read_problem(key, exc)]
        except ValueError as exc:
            return None, [Problem("unreadable", key, str(exc))]
        problems: list[Problem] = []
        items = [bytes.fromhex(leaf["manifest_sha256"]) for leaf in record["leaves"]]
        if record.get("ledger_head"):
            head = record["ledger_head"]
            items.append(ledger_head_item(head["seq"], head["hash"]))
        root = bytes.fromhex(record["root"])
        if merkle.root(items) != root:
            problems.append(Problem("bad-seal", key, "leaves do not hash to the recorded root"))
        for info in record.get("tokens") or []:
            problems.extend(self._check_token(info, root))
        if not record.get("tokens"):
            problems.append(Problem("bad-seal", key, "no timestamp token"))
        return record, problems

    def _check_token(self, info: dict[str, Any], root: bytes) -> list[Problem]:
        try:
            reply = self.store.read_bytes(info["token"])
            chain = x509.load_pem_x509_certificates(self.store.read_bytes(info["chain"]))
        except StorageError as exc:
            return [read_problem(info["token"], exc)]
        except ValueError as exc:
            return [Problem("bad-token", info["chain"], str(exc))]
        if hashlib.sha256(reply).hexdigest() != info["token_sha256"]:
            return [Problem("bad-token", info["token"], "differs from the digest in its seal")]
        anchors = [c for c in chain if cert_fingerprint(c) == info["root_sha256"]]
        if not anchors:
            return [Problem("bad-token", info["chain"], "the recorded root is not in the chain")]
        try:
            tsr, _ = verify_token(reply, root, anchors)
        except (IntegrityError, ValueError) as exc:
            return [Problem("bad-token", info["token"], str(exc))]
        gen_time = isoformat(tsr.tst_info.gen_time.replace(tzinfo=UTC))
        if gen_time != info["gen_time"]:
            return [Problem("bad-token", info["token"], "time differs from its seal record")]
        return []

    def check_capture(
        self, manifest_key: str, manifest_sha256: str, expected: Iterable[str] = ()
    ) -> tuple[list[dict[str, Any]], list[Problem]]:
        """The capture's verified seals (batch, times) and every problem found."""
        prefix = f"{manifest_key.rsplit('/', 1)[0]}/seals/"
        try:
            keys = list(self.store.list(prefix))
        except StorageError as exc:  # out of reach: unknown, not unsealed
            return [], [Problem("unreadable", prefix, str(exc))]
        found = {k.rsplit("/", 1)[-1].removesuffix(".json"): k for k in keys}
        problems: list[Problem] = []
        for batch_id in expected:
            if batch_id not in found:
                problems.append(
                    Problem("missing-object", proof_key(manifest_key, batch_id), "seal proof")
                )
        seals = []
        for batch_id, key in sorted(found.items()):
            try:
                proof = json.loads(self.store.read_bytes(key))
                steps = [(str(side), str(h)) for side, h in proof["proof"]]
                index = int(proof["leaf_index"])
            except (StorageError, ValueError, KeyError, TypeError) as exc:
                problems.append(Problem("unreadable", key, str(exc)))
                continue
            record, batch_problems = self.batch(batch_id)
            problems.extend(p for p in batch_problems if p not in problems)
            if record is None:
                continue
            leaves = record["leaves"]
            leaf = leaves[index] if 0 <= index < len(leaves) else {}
            if proof.get("manifest_sha256") != manifest_sha256:
                problems.append(
                    Problem("manifest-changed", manifest_key, f"differs from sealed {key}")
                )
            elif leaf.get("manifest_sha256") != manifest_sha256:
                problems.append(Problem("bad-proof", key, "leaf differs from the seal record"))
            elif merkle.root_from_proof(bytes.fromhex(manifest_sha256), steps).hex() != (
                record["root"]
            ):
                problems.append(Problem("bad-proof", key, "does not lead to the sealed root"))
            elif not batch_problems:
                seals.append(
                    {
                        "batch": batch_id,
                        "times": [t["gen_time"] for t in record["tokens"]],
                        "tsas": [t["tsa"] for t in record["tokens"]],
                    }
                )
        return seals, problems


def sealed_batches(catalogue: Catalogue) -> dict[str, list[str]]:
    """capture id → batch ids the catalogue expects seal proofs for."""
    out: dict[str, list[str]] = {}
    with catalogue.session() as session:
        for row in session.scalars(select(SealedCapture)):
            out.setdefault(row.capture_id, []).append(row.batch_id)
    return out

