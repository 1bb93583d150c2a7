"""Multi-index Hamming search: identical answers to brute force, on randomised data."""

from __future__ import annotations

import numpy as np
import pytest

from hashing.index import HammingIndex, brute_force, hex_to_words, int_to_words


def _planted(rng: np.random.Generator, n: int, bits: int, queries: int, radius: int):
    """n random hashes plus, per query, a few copies with up to ``radius + 2`` bits flipped."""
    words = max(1, bits // 64) if bits % 64 == 0 else 1
    top = 2**bits if bits < 64 else 2**64
    values = rng.integers(0, top, size=(n, words), dtype=np.uint64)
    queries_out, extra = [], []
    for _ in range(queries):
        q = values[rng.integers(0, n)].copy()
        queries_out.append(q)
        for _ in range(3):
            copy = q.copy()
            for bit in rng.choice(bits, size=rng.integers(0, radius + 3), replace=False):
                copy[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64 if words > 1 else bit)
            extra.append(copy)
    return np.concatenate([values, np.array(extra, dtype=np.uint64)]), queries_out


@pytest.mark.parametrize(
    ("bits", "n", "radii"),
    [(64, 60_000, (0, 1, 3, 4, 8, 10, 12, 20)), (256, 20_000, (0, 16, 31, 40)), (42, 20_000, (0, 4, 8))],
    ids=["64-bit", "pdq-256", "colorhash-42"],
)
def test_recall_equals_brute_force(bits: int, n: int, radii: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1234 + bits)
    for radius in radii:
        values, queries = _planted(rng, n, bits, 40, radius)
        index = HammingIndex(values, bits)
        found_any = 0
        for q in queries:
            rows, dist = index.search(q, radius)
            expected = brute_force(values, q, radius)
            assert np.array_equal(np.sort(rows), expected), (bits, radius)
            assert np.all(dist <= radius) and np.all(np.diff(dist) >= 0)
            assert np.array_equal(dist, np.bitwise_count(values[rows] ^ q).sum(axis=1))
            found_any += len(rows)
        assert found_any >= len(queries)  # each query at least finds itself


def test_clustered_hashes_fall_back_to_a_scan_and_stay_exact() -> None:
    # real archives are not uniform: many near-identical frames share blocks
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**64, size=4, dtype=np.uint64)
    values = np.repeat(base, 5000)
    values ^= rng.integers(0, 2**8, size=values.size, dtype=np.uint64)  # low bits only
    index = HammingIndex(values.reshape(-1, 1), 64)
    q = values[:1].copy()
    assert index.candidates(q, 8) is None  # too many candidates: scanning is cheaper
    rows, _ = index.search(q, 8)
    assert np.array_equal(np.sort(rows), brute_force(values.reshape(-1, 1), q, 8))


def test_queries_as_hex_and_int() -> None:
    hexes = ["ffffffffffffffff", "fffffffffffffffe", "0000000000000000", "00000000000000ff"]
    index = HammingIndex.from_hex(hexes, 64)
    rows, dist = index.search("ffffffffffffffff", 1)
    assert rows.tolist() == [0, 1] and dist.tolist() == [0, 1]
    rows, dist = index.search(0xF, 4)
    assert rows.tolist() == [2, 3] and dist.tolist() == [4, 4]
    assert index.search("ffffffffffffffff", -1)[0].size == 0


def test_hex_words_are_big_endian() -> None:
    value = "8" + "0" * 62 + "1"  # 256 bits: top bit and bottom bit
    words = hex_to_words([value], 256)[0]
    assert words.tolist() == [1 << 63, 0, 0, 1]
    assert int_to_words(int(value, 16), 256).tolist() == words.tolist()
    assert hex_to_words(["5"], 3)[0].tolist() == [5]
    with pytest.raises(ValueError):
        hex_to_words(["1" * 17], 64)


def test_empty_index() -> None:
    index = HammingIndex(np.empty((0, 1), dtype=np.uint64), 64)
    rows, dist = index.search(0, 8)
    assert len(index) == 0 and rows.size == 0 and dist.size == 0
