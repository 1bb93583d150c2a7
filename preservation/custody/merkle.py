"""A Merkle tree over many items, so one RFC 3161 token can seal thousands of manifests.

The tree is RFC 6962's (Certificate Transparency): ``leaf = sha256(0x00 || item)``,
``node = sha256(0x01 || left || right)``, and a list of n > 1 leaves splits at the largest
power of two below n. The domain-separation bytes make a leaf impossible to pass off as a
node. An inclusion proof is the list of sibling hashes from the leaf up, each tagged with
the side it sits on, so a capture's proof can be checked with sha256 alone.
"""

from __future__ import annotations

import hashlib

TREE = "rfc6962-sha256"
Proof = list[tuple[str, str]]  # ("left" | "right", sibling hash hex), leaf upwards


def leaf_hash(item: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + item).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def build(items: list[bytes]) -> tuple[bytes, list[Proof]]:
    """The root and every leaf's inclusion proof, in O(n log n)."""
    if not items:
        raise ValueError("a Merkle tree needs at least one item")
    leaves = [leaf_hash(item) for item in items]
    proofs: list[Proof] = [[] for _ in leaves]

    def subtree(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        mid = lo + _split(hi - lo)
        left, right = subtree(lo, mid), subtree(mid, hi)
        for i in range(lo, mid):
            proofs[i].append(("right", right.hex()))
        for i in range(mid, hi):
            proofs[i].append(("left", left.hex()))
        return node_hash(left, right)

    return subtree(0, len(leaves)), proofs


def root(items: list[bytes]) -> bytes:
    return build(items)[0]


def root_from_proof(item: bytes, proof: Proof) -> bytes:
    """Fold a leaf up its proof; equal to the tree's root iff the item is in the tree."""
    digest = leaf_hash(item)
    for side, sibling_hex in proof:
        sibling = bytes.fromhex(sibling_hex)
        if side == "right":
            digest = node_hash(digest, sibling)
        elif side == "left":
            digest = node_hash(sibling, digest)
        else:
            raise ValueError(f"bad proof step side {side!r}")
    return digest
