"""A near-duplicate index kept warm across commits, for linking at capture time.

``SimilarityIndex`` loads every hash of an algorithm on first use: right for one query,
but a worker that links each new capture would reload a million rows per commit. Here the
rows already committed are loaded once per catalogue engine (through a connection of
their own, so rows of a transaction that later rolls back never enter the cache), and
each use only adds the rows newer than that, searched by brute force. The cache is
checked on every use (the first, last and a random sample of the cached rows must still
hold the same hash for the same artifact), so a catalogue wiped or rebuilt by another
process is noticed and reloaded, never trusted. Queries go by primary-key range only,
so a check and the newer rows cost milliseconds at a million rows.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hashing.index import brute_force, hex_to_words
from preservation.catalogue.models import PerceptualHash
from preservation.catalogue.similarity import (
    HASH_COLUMNS,
    HashTable,
    Hit,
    QueryHash,
    SimilarityIndex,
)

#: Newer rows than this are folded into a fresh base instead of being scanned each time.
REBUILD_AFTER = 20_000

#: The row id, then what a ``HashTable`` holds.
_COLUMNS = (PerceptualHash.id, *HASH_COLUMNS)


#: Cached rows re-read on each use to prove the cache still matches the catalogue.
SAMPLE = 16
#: Ids just below the cached maximum are read again: with database sequences, a slow
#: transaction can commit a lower id after the base was loaded.
OVERLAP = 1000


@dataclass
class _Base:
    table: HashTable | None
    ids: np.ndarray  # the catalogue id of each row of ``table``
    max_id: int
    tail: frozenset[int]  # ids of the base's rows within OVERLAP of ``max_id``


_BASES: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int], _Base]] = (
    weakref.WeakKeyDictionary()
)


def forget(engine: Engine) -> None:
    """Drop the cached rows of a catalogue (``reindex --wipe`` calls this)."""
    _BASES.pop(engine, None)


def _table(rows: list[Any], bits: int) -> HashTable | None:
    """A table of ``_COLUMNS`` rows (the id dropped)."""
    return HashTable.build([r[1:] for r in rows], bits)


def _where(algorithm: str, bits: int) -> tuple[Any, Any]:
    return PerceptualHash.algorithm == algorithm, PerceptualHash.bits == bits


class LiveSimilarityIndex(SimilarityIndex):
    """``SimilarityIndex`` over a cached base of committed rows plus this session's newer rows."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        engine = session.get_bind()
        database = getattr(getattr(engine, "url", None), "database", None)
        # an in-memory SQLite database is a different database on another connection
        cacheable = isinstance(engine, Engine) and database not in (None, "", ":memory:")
        self._engine: Engine | None = engine if cacheable else None
        self._live: dict[tuple[str, int], tuple[_Base, HashTable | None, int]] = {}

    def _load_base(self, algorithm: str, bits: int) -> _Base:
        assert self._engine is not None
        with self._engine.connect() as conn:
            # the newest id first: rows after it are "newer" and read by each use
            top = conn.execute(select(func.max(PerceptualHash.id))).scalar() or 0
            rows = list(
                conn.execute(
                    select(*_COLUMNS).where(*_where(algorithm, bits), PerceptualHash.id <= top)
                )
            )
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return _Base(_table(rows, bits), ids, top, frozenset(ids[ids > top - OVERLAP].tolist()))

    def _still_valid(self, base: _Base, algorithm: str, bits: int) -> bool:
        top = self.session.execute(select(func.max(PerceptualHash.id))).scalar() or 0
        if top < base.max_id:
            return False  # rows were deleted
        if base.table is None:
            return not self.session.execute(
                select(PerceptualHash.id)
                .where(PerceptualHash.id <= base.max_id, *_where(algorithm, bits))
                .limit(1)
            ).first()
        n = len(base.ids)
        picks = {0, n - 1, *np.random.default_rng().integers(0, n, size=min(SAMPLE, n)).tolist()}
        wanted = {int(base.ids[i]): i for i in picks}
        found = self.session.execute(
            select(
                PerceptualHash.id,
                PerceptualHash.sha256,
                PerceptualHash.value,
                *_where(algorithm, bits),
            ).where(PerceptualHash.id.in_(list(wanted)))
        ).all()
        if len(found) != len(wanted):
            return False
        for row_id, sha256, value, same_algorithm, same_bits in found:
            i = wanted[row_id]
            if not (same_algorithm and same_bits and sha256 == base.table.sha256[i]):
                return False
            if not np.array_equal(hex_to_words([value], bits)[0], base.table.index.values[i]):
                return False
        return True

    def _parts(self, algorithm: str, bits: int) -> tuple[_Base, HashTable | None, int]:
        key = (algorithm, bits)
        if key in self._live:
            return self._live[key]
        assert self._engine is not None
        bases = _BASES.setdefault(self._engine, {})
        base = bases.get(key)
        if base is None or not self._still_valid(base, algorithm, bits):
            base = bases[key] = self._load_base(algorithm, bits)
        # by primary-key range alone (an algorithm filter could make SQLite scan its index)
        newer = [
            r[:5]
            for r in self.session.execute(
                select(*_COLUMNS, PerceptualHash.algorithm, PerceptualHash.bits).where(
                    PerceptualHash.id > base.max_id - OVERLAP
                )
            )
            if (r[5], r[6]) == (algorithm, bits) and r[0] not in base.tail
        ]
        if len(newer) > REBUILD_AFTER:
            bases.pop(key, None)  # the next commit starts from a fresh base
        self._live[key] = (base, _table(newer, bits), len(newer))
        return self._live[key]

    def search(self, q: QueryHash, max_distance: int) -> list[Hit]:
        if self._engine is None:
            return super().search(q, max_distance)
        base, delta, _ = self._parts(q.algorithm, q.bits)
        found: list[Hit] = []
        if base.table is not None:
            found += base.table.hits(*base.table.index.search(q.value, max_distance))
        if delta is not None:
            query = delta.index.query_words(q.value)
            rows = brute_force(delta.index.values, query, max_distance)
            distances = np.bitwise_count(delta.index.values[rows] ^ query).sum(axis=1)
            found += delta.hits(rows, distances)
        return sorted(found, key=lambda f: (f[2], f[0], f[1] or ""))
