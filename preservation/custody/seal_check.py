"""Checking seals: a capture's inclusion proofs, its batches' records and tokens.

Each batch (its record, tree and tokens) is checked once per ``SealChecker``, however
many captures it seals. A read the store could not serve is ``unreadable`` (retry), not
a missing seal; see ``kernel.errors.read_problem``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from cryptography import x509
from sqlalchemy import select

from kernel.errors import IntegrityError, Problem, StorageError, read_problem
from kernel.ids import isoformat
from preservation.catalogue.models import Catalogue
from preservation.custody import merkle
from preservation.custody.timestamps import (
    SealedCapture,
    ledger_head_item,
    proof_key,
    record_key,
)
from preservation.custody.tsa import cert_fingerprint, verify_token
from preservation.store import Store


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


def sealed_batches(
    catalogue: Catalogue, capture_ids: list[str] | None = None
) -> dict[str, list[str]]:
    """capture id → batch ids the catalogue expects seal proofs for (all, or these)."""
    out: dict[str, list[str]] = {}
    query = select(SealedCapture)
    with catalogue.session() as session:
        chunks = [None] if capture_ids is None else [
            capture_ids[i : i + 500] for i in range(0, len(capture_ids), 500)
        ]
        for chunk in chunks:
            rows = query if chunk is None else query.where(SealedCapture.capture_id.in_(chunk))
            for row in session.scalars(rows):
                out.setdefault(row.capture_id, []).append(row.batch_id)
    return out
