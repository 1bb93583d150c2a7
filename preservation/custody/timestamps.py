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

Asking a TSA and checking its token: ``preservation.custody.tsa``; checking seals later:
``preservation.custody.seal_check``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from kernel.canonical import canonical_json
from kernel.errors import ConfigError, Findings, Problem, StorageError, read_problem
from kernel.ids import isoformat, parse_time
from preservation.catalogue.models import Base, Capture, Catalogue
from preservation.custody import merkle
from preservation.custody.tsa import (
    TimestampError,
    Token,
    cert_fingerprint,
    request_token,
    roots_path,
    trusted_roots,
    tsa_urls,
)
from preservation.store import Store

if TYPE_CHECKING:
    from preservation.runtime import Runtime

log = logging.getLogger("witnessbox.timestamps")
SEAL_SCHEMA = "urn:witnessbox:seal:1"
PROOF_SCHEMA = "urn:witnessbox:seal-proof:1"
MAX_BATCH = 50_000


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



def token_summary(token: Token, index: int, batch_id: str) -> dict[str, Any]:
    """What a seal record says of one token, and where the token and its chain are kept."""
    info = token.tsr.tst_info
    return {
        "tsa": token.tsa,
        "token": f"{batch_prefix(batch_id)}tsa-{index}.tsr",
        "chain": f"{batch_prefix(batch_id)}tsa-{index}.chain.pem",
        "token_sha256": hashlib.sha256(token.reply).hexdigest(),
        "root_sha256": cert_fingerprint(token.root),
        "gen_time": isoformat(info.gen_time.replace(tzinfo=info.gen_time.tzinfo or UTC)),
        "serial": str(info.serial_number),
        "policy": info.policy.dotted_string,
    }


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
        summaries = [token_summary(t, i, batch_id) for i, t in enumerate(tokens)]
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
