"""A near-duplicate index kept warm across commits and processes, for linking and search.

``SimilarityIndex`` loads every hash of an algorithm on first use: right for one query,
but a worker that links each new capture would reload a million rows per commit, and every
Airflow task is a new process. Here the committed rows of an algorithm form a *base*:

- held per catalogue engine (read through a connection of its own, so rows of a
  transaction that later rolls back never enter it), and only the rows newer than it are
  read by each use, searched by brute force;
- loaded in one bulk read of ``(id, value)`` into numpy arrays (the artifact, frame and
  quality of a hit are read by id for the hits alone);
- kept as a packed snapshot beside the catalogue (``<catalogue>.index/`` for SQLite, the
  runtime's ``WITNESSBOX_HOME/index/`` otherwise): numpy arrays, memory-mapped, so a fresh
  process starts from the file in milliseconds instead of the database.

A base is never trusted blindly: each use re-reads its first, last and a random sample of
rows (same id, same algorithm, same value), and every hit is re-read with its artifact and
must still hold the value the base has, so a catalogue wiped, rebuilt or changed by another
process is noticed and the base reloaded. Queries go by primary-key range only, so a check
and the newer rows cost milliseconds at a million rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hashing.index import HammingIndex, brute_force, hex_to_words, words_for
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
#: Cached rows re-read on each use to prove the cache still matches the catalogue.
SAMPLE = 16
#: Ids just below the cached maximum are read again: with database sequences, a slow
#: transaction can commit a lower id after the base was loaded.
OVERLAP = 1000
SNAPSHOT_FORMAT = 1

#: The row id, then what a ``HashTable`` holds.
_COLUMNS = (PerceptualHash.id, *HASH_COLUMNS)


@dataclass
class _Base:
    index: HammingIndex | None
    ids: np.ndarray  # the catalogue id of each row of ``index``
    max_id: int
    tail: frozenset[int]  # ids of the base's rows within OVERLAP of ``max_id``


_BASES: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int], _Base]] = (
    weakref.WeakKeyDictionary()
)
_PLACES: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()


def forget(engine: Engine) -> None:
    """Drop the cached rows of a catalogue (``reindex --wipe`` calls this)."""
    _BASES.pop(engine, None)
    directory = snapshot_dir(engine)
    if directory is not None and directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)


def place_snapshots(engine: Engine, home_index: Path) -> None:
    """Where a non-SQLite catalogue's snapshots live (one folder per database)."""
    url = engine.url
    name = f"{url.get_backend_name()}:{url.host}:{url.port}/{url.database}"
    _PLACES[engine] = home_index / hashlib.sha256(name.encode()).hexdigest()[:16]


def snapshot_dir(engine: Engine) -> Path | None:
    if engine in _PLACES:
        return _PLACES[engine]
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
        return Path(f"{database}.index")
    return None


def _base_of(ids: np.ndarray, index: HammingIndex | None, top: int) -> _Base:
    return _Base(index, ids, top, frozenset(ids[ids > top - OVERLAP].tolist()))


def _bulk_rows(
    engine: Engine, algorithm: str, bits: int, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, words) of an algorithm's rows up to ``top`` (in the order the database reads them).

    The database concatenates the fixed-width hex of every id and value into two strings
    (one aggregate query), which numpy decodes at once: no Python object per row, so a
    million hashes cost two strings instead of two million. Values of another width than
    the algorithm's (never written by witnessbox) fall back to reading rows.
    """
    digits = words_for(bits) * 16
    params = {"algorithm": algorithm, "bits": bits, "top": top}
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = ("SELECT count(*), group_concat(printf('%016x', id), ''), "
                   "group_concat(value, '') FROM perceptual_hashes "
                   "WHERE algorithm = :algorithm AND bits = :bits AND id <= :top")
        else:  # both aggregates read the rows in one order (any order: ids say which is which)
            sql = ("SELECT count(*), string_agg(lpad(to_hex(id), 16, '0'), ''), "
                   "string_agg(value, '') FROM perceptual_hashes "
                   "WHERE algorithm = :algorithm AND bits = :bits AND id <= :top")
        n, ids_hex, values_hex = conn.execute(text(sql), params).one()
        if not n:
            return np.empty(0, dtype=np.int64), np.empty((0, words_for(bits)), dtype=np.uint64)
        if len(ids_hex) == 16 * n and len(values_hex) == digits * n:
            ids = np.frombuffer(bytes.fromhex(ids_hex), dtype=">u8").astype(np.int64)
            words = np.frombuffer(bytes.fromhex(values_hex), dtype=">u8").astype(np.uint64)
            return ids, words.reshape(n, words_for(bits))
        rows = conn.execute(
            select(PerceptualHash.id, PerceptualHash.value)
            .where(*_where(algorithm, bits), PerceptualHash.id <= top)
            .order_by(PerceptualHash.id)
        ).all()
    return np.array([r[0] for r in rows], dtype=np.int64), hex_to_words([r[1] for r in rows], bits)


def _save(path: Path, base: _Base) -> None:
    """Write the snapshot: a new folder of ``.npy`` arrays, then switch ``path`` to it.

    ``path`` is a small file naming the current folder, replaced atomically, so a reader
    sees the old snapshot or the new one, never half of one; older folders are removed.
    """
    if base.index is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f"{path.stem}-"))
        arrays = {"ids": base.ids, "max_id": np.array([base.max_id]),
                  "format": np.array([SNAPSHOT_FORMAT]), **base.index.state()}  # fmt: skip
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(folder.name)
        os.replace(tmp, path)
        for old in path.parent.glob(f"{path.stem}-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)


def _load(path: Path) -> _Base | None:
    """The snapshot ``path`` names, memory-mapped: pages are read only as searches touch them."""
    try:
        folder = path.parent / path.read_text().strip()
        arrays = {f.stem: np.load(f, mmap_mode="r") for f in folder.glob("*.npy")}
        if int(arrays["format"][0]) != SNAPSHOT_FORMAT:
            return None
        ids = np.asarray(arrays["ids"])
        return _base_of(ids, HammingIndex.from_state(arrays), int(arrays["max_id"][0]))
    except (OSError, ValueError, KeyError):
        return None


def _where(algorithm: str, bits: int) -> tuple[Any, Any]:
    return PerceptualHash.algorithm == algorithm, PerceptualHash.bits == bits


def _table(rows: list[Any], bits: int) -> HashTable | None:
    """A table of ``_COLUMNS`` rows (the id dropped)."""
    return HashTable.build([r[1:] for r in rows], bits)


class StaleBase(Exception):
    """A hit no longer holds the value the base has: the catalogue changed underneath."""


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

    # -- the base ----------------------------------------------------------------------------
    def _snapshot(self, algorithm: str, bits: int) -> Path | None:
        assert self._engine is not None
        directory = snapshot_dir(self._engine)
        return directory / f"{algorithm}-{bits}.current" if directory is not None else None

    def _load_base(self, algorithm: str, bits: int, *, from_file: bool = True) -> _Base:
        assert self._engine is not None
        path = self._snapshot(algorithm, bits)
        if from_file and path is not None and path.is_file():
            base = _load(path)
            if base is not None and self._still_valid(base, algorithm, bits):
                return base
        with self._engine.connect() as conn:
            # the newest id first: rows after it are "newer" and read by each use
            top = conn.execute(select(func.max(PerceptualHash.id))).scalar() or 0
        ids, words = _bulk_rows(self._engine, algorithm, bits, top)
        base = _base_of(ids, HammingIndex(words, bits) if len(ids) else None, top)
        if path is not None:
            _save(path, base)
        return base

    def _still_valid(self, base: _Base, algorithm: str, bits: int) -> bool:
        top = self.session.execute(select(func.max(PerceptualHash.id))).scalar() or 0
        if top < base.max_id:
            return False  # rows were deleted
        if base.index is None:
            return not self.session.execute(
                select(PerceptualHash.id)
                .where(PerceptualHash.id <= base.max_id, *_where(algorithm, bits))
                .limit(1)
            ).first()
        n = len(base.ids)
        picks = {0, n - 1, *np.random.default_rng().integers(0, n, size=min(SAMPLE, n)).tolist()}
        wanted = {int(base.ids[i]): i for i in picks}
        found = self.session.execute(
            select(PerceptualHash.id, PerceptualHash.value, *_where(algorithm, bits)).where(
                PerceptualHash.id.in_(list(wanted))
            )
        ).all()
        if len(found) != len(wanted):
            return False
        return all(
            same_algorithm and same_bits
            and np.array_equal(hex_to_words([value], bits)[0], base.index.values[wanted[row_id]])
            for row_id, value, same_algorithm, same_bits in found
        )  # fmt: skip

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
            bases[key] = self._load_base(algorithm, bits, from_file=False)  # for next time
        self._live[key] = (base, _table(newer, bits), len(newer))
        return self._live[key]

    # -- searching ---------------------------------------------------------------------------
    def _base_hits(
        self, base: _Base, q: QueryHash, max_distance: int
    ) -> list[Hit]:
        assert base.index is not None
        rows, dist = base.index.search(q.value, max_distance)
        if not len(rows):
            return []
        wanted = {int(base.ids[r]): (int(r), int(d)) for r, d in zip(rows, dist, strict=True)}
        found: list[Hit] = []
        ids = list(wanted)
        for start in range(0, len(ids), 500):
            for row_id, sha, value, frame, quality, alg, bits in self.session.execute(
                select(*_COLUMNS, PerceptualHash.algorithm, PerceptualHash.bits).where(
                    PerceptualHash.id.in_(ids[start : start + 500])
                )
            ):
                r, d = wanted.pop(row_id)
                if (alg, bits) != (q.algorithm, q.bits) or not np.array_equal(
                    hex_to_words([value], q.bits)[0], base.index.values[r]
                ):
                    raise StaleBase(row_id)
                found.append((sha, frame, d, -1 if quality is None else quality))
        if wanted:
            raise StaleBase(next(iter(wanted)))  # a hit's row is gone
        return found

    def search(self, q: QueryHash, max_distance: int) -> list[Hit]:
        if self._engine is None:
            return super().search(q, max_distance)
        base, delta, _ = self._parts(q.algorithm, q.bits)
        found: list[Hit] = []
        if base.index is not None:
            try:
                found += self._base_hits(base, q, max_distance)
            except StaleBase:  # reload from the catalogue, once, and answer from that
                _BASES.get(self._engine, {}).pop((q.algorithm, q.bits), None)
                self._live.pop((q.algorithm, q.bits), None)
                fresh = self._load_base(q.algorithm, q.bits, from_file=False)
                _BASES.setdefault(self._engine, {})[(q.algorithm, q.bits)] = fresh
                return self.search(q, max_distance)
        if delta is not None:
            query = delta.index.query_words(q.value)
            rows = brute_force(delta.index.values, query, max_distance)
            distances = np.bitwise_count(delta.index.values[rows] ^ query).sum(axis=1)
            found += delta.hits(rows, distances)
        return sorted(found, key=lambda f: (f[2], f[0], f[1] or ""))
