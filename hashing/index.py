"""Exact Hamming-radius search over perceptual hashes: multi-index hashing on numpy.

Pigeonhole: split a hash into ``m`` blocks; if two hashes differ in at most ``r`` bits,
at least one block differs in at most ``r // m`` bits. So each block gets its own table
(block value -> rows), a query probes every block value within ``r // m`` of its own
block, and only those candidates are compared in full. Nothing is approximate: every
hash within ``r`` is found (recall 1.0 against brute force), and when the probes would
touch most of the archive anyway the index simply scans everything.

Hashes are held as rows of big-endian ``uint64`` words (a 64-bit hash is one word, PDQ's
256 bits are four; the hash value is right-aligned). Blocks are 16 bits wide or narrower
(a 42-bit colour hash gets three of 14), so each table is a dense offsets array.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import combinations

import numpy as np

BLOCK_BITS = 16
#: Probing is abandoned for a full scan when it would visit more than this share of rows.
SCAN_SHARE = 0.25


def words_for(bits: int) -> int:
    return max(1, math.ceil(bits / 64))


def hex_to_words(values: Iterable[str], bits: int) -> np.ndarray:
    """Hex values (see ``hashing.perceptual``) -> array of shape (n, words) of uint64."""
    words = words_for(bits)
    digits = words * 16
    rows = []
    for value in values:
        padded = value.rjust(digits, "0")
        if len(padded) != digits:
            raise ValueError(f"hash {value!r} longer than {bits} bits")
        rows.append([int(padded[i : i + 16], 16) for i in range(0, digits, 16)])
    return np.array(rows, dtype=np.uint64).reshape(-1, words)


def int_to_words(value: int, bits: int) -> np.ndarray:
    words = words_for(bits)
    return np.array(
        [(value >> (64 * (words - 1 - i))) & 0xFFFF_FFFF_FFFF_FFFF for i in range(words)],
        dtype=np.uint64,
    )


def distances(values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distance of every row of ``values`` (n, words) to one query (words,)."""
    return np.bitwise_count(values ^ query).sum(axis=1, dtype=np.int64)


def brute_force(values: np.ndarray, query: np.ndarray, max_distance: int) -> np.ndarray:
    """Rows within ``max_distance`` by scanning everything (the reference for recall)."""
    return np.flatnonzero(distances(values, query) <= max_distance)


def _blocks(bits: int) -> list[tuple[int, int, int]]:
    """(word, shift, width) of each block, covering the hash's ``bits`` from the top."""
    if bits > 64 and bits % 64:
        raise ValueError("hashes longer than 64 bits must be whole words")
    words = words_for(bits)
    out: list[tuple[int, int, int]] = []
    if bits <= 64:
        count = math.ceil(bits / BLOCK_BITS)
        widths = [bits // count + (1 if i < bits % count else 0) for i in range(count)]
        shift = bits
        for width in widths:
            shift -= width
            out.append((0, shift, width))
        return out
    for word in range(words):
        for shift in range(64 - BLOCK_BITS, -1, -BLOCK_BITS):
            out.append((word, shift, BLOCK_BITS))
    return out


@lru_cache(maxsize=64)
def _masks(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit value with at most ``radius`` bits set."""
    masks = [0]
    for k in range(1, min(radius, width) + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(width), k))
    return np.array(masks, dtype=np.int64)


class HammingIndex:
    """Exact near-duplicate lookup among ``n`` hashes of one algorithm and bit length."""

    def __init__(self, values: np.ndarray, bits: int) -> None:
        values = np.ascontiguousarray(values, dtype=np.uint64)
        if values.ndim == 1:
            values = values.reshape(-1, 1)
        if values.shape[1] != words_for(bits):
            raise ValueError(f"{bits}-bit hashes need {words_for(bits)} word(s) per row")
        if len(values) >= 2**31:
            raise ValueError("too many hashes for one index")
        self.bits = bits
        self.values = values
        self.blocks = _blocks(bits)
        self._offsets: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        for word, shift, width in self.blocks:
            keys = self._block(values[:, word], shift, width).astype(np.uint16)  # width <= 16
            counts = np.bincount(keys, minlength=1 << width)
            self._offsets.append(np.concatenate(([0], np.cumsum(counts))))
            # a stable sort of 16-bit keys is a radix sort: ~10 ms per million rows
            self._rows.append(np.argsort(keys, kind="stable").astype(np.int32))

    def state(self) -> dict[str, np.ndarray]:
        """The built tables as plain arrays, to keep in a file (``from_state`` reads them)."""
        out = {"values": self.values, "bits": np.array([self.bits])}
        for b, (offsets, rows) in enumerate(zip(self._offsets, self._rows, strict=True)):
            out[f"offsets{b}"], out[f"rows{b}"] = offsets, rows
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> HammingIndex:
        """An index from ``state()``'s arrays, without sorting anything again."""
        index = cls.__new__(cls)
        index.bits = int(state["bits"][0])
        index.values = np.ascontiguousarray(state["values"], dtype=np.uint64)
        index.blocks = _blocks(index.bits)
        index._offsets = [np.asarray(state[f"offsets{b}"]) for b in range(len(index.blocks))]
        index._rows = [np.asarray(state[f"rows{b}"]) for b in range(len(index.blocks))]
        if index.values.shape[1] != words_for(index.bits) or any(
            len(r) != len(index.values) for r in index._rows
        ):
            raise ValueError("inconsistent index state")
        return index

    @classmethod
    def from_hex(cls, values: Sequence[str], bits: int) -> HammingIndex:
        return cls(hex_to_words(values, bits), bits)

    def __len__(self) -> int:
        return len(self.values)

    @staticmethod
    def _block(column: np.ndarray, shift: int, width: int) -> np.ndarray:
        return ((column >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)

    def query_words(self, query: int | str | np.ndarray) -> np.ndarray:
        if isinstance(query, str):
            return hex_to_words([query], self.bits)[0]
        if isinstance(query, int):
            return int_to_words(query, self.bits)
        return np.asarray(query, dtype=np.uint64).reshape(-1)

    def candidates(self, query: np.ndarray, max_distance: int) -> np.ndarray | None:
        """Rows sharing a block within ``max_distance // m`` of the query; None: scan all."""
        radius = max_distance // len(self.blocks)
        starts_all, lengths_all, tables = [], [], []
        total = 0
        for b, (word, shift, width) in enumerate(self.blocks):
            key = int((int(query[word]) >> shift) & ((1 << width) - 1))
            probes = key ^ _masks(width, radius)
            offsets = self._offsets[b]
            starts = offsets[probes]
            lengths = offsets[probes + 1] - starts
            total += int(lengths.sum())
            if total > SCAN_SHARE * len(self.values):
                return None
            starts_all.append(starts)
            lengths_all.append(lengths)
            tables.append(b)
        found = []
        for b, starts, lengths in zip(tables, starts_all, lengths_all, strict=True):
            keep = lengths > 0
            starts, lengths = starts[keep], lengths[keep]
            if not len(lengths):
                continue
            ends = np.cumsum(lengths)
            positions = np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1])
            found.append(self._rows[b][positions])
        return np.concatenate(found) if found else np.empty(0, dtype=np.int32)

    def search(
        self, query: int | str | np.ndarray, max_distance: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, distances) of every hash within ``max_distance``, nearest first."""
        if max_distance < 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        q = self.query_words(query)
        rows = self.candidates(q, max_distance)
        if rows is None:
            d = distances(self.values, q)
            rows = np.flatnonzero(d <= max_distance)
            d = d[rows]
        else:
            d = distances(self.values[rows], q)
            keep = d <= max_distance
            rows, first = np.unique(rows[keep], return_index=True)  # a row can match twice
            d = d[keep][first]
        order = np.lexsort((rows, d))
        return rows[order].astype(np.int64), d[order]
