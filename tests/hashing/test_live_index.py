"""The warm linking index answers exactly like a fresh snapshot, and never trusts a stale cache."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, select

from preservation.catalogue import live_index
from preservation.catalogue.live_index import LiveSimilarityIndex
from preservation.catalogue.models import Catalogue, PerceptualHash
from preservation.catalogue.similarity import QueryHash, SimilarityIndex


def _add(session, rng: np.random.Generator, n: int, tag: str) -> list[str]:
    values = [f"{int(v):016x}" for v in rng.integers(0, 2**63, size=n, dtype=np.int64)]
    for i, value in enumerate(values):
        session.add(
            PerceptualHash(
                sha256=f"{tag}{i:060d}"[:64].ljust(64, "0"),
                algorithm="phash",
                bits=64,
                value=value,
                prefix=int(value[:4], 16),
                frame=None,
                quality=None,
                library="test",
            )
        )
    session.flush()
    return values


def _near(value: str, rng: np.random.Generator, flips: int) -> str:
    v = int(value, 16)
    for bit in rng.choice(64, size=flips, replace=False):
        v ^= 1 << int(bit)
    return f"{v:016x}"


def _same_answers(catalogue: Catalogue, queries: list[str]) -> None:
    with catalogue.session() as session:
        live, fresh = LiveSimilarityIndex(session), SimilarityIndex(session)
        for value in queries:
            q = QueryHash("phash", 64, value)
            assert sorted(live.search(q, 8)) == sorted(fresh.search(q, 8))


@pytest.fixture
def catalogue(catalogue_url: str):  # on SQLite and PostgreSQL
    cat = Catalogue.open(catalogue_url)
    yield cat
    live_index.forget(cat.engine)
    cat.close()


def test_warm_index_matches_a_fresh_snapshot_across_commits(catalogue) -> None:
    rng = np.random.default_rng(7)
    values: list[str] = []
    for batch in range(4):
        with catalogue.session.begin() as session:
            values += _add(session, rng, 500, f"b{batch}")
            # this session's own, uncommitted rows are found too
            live = LiveSimilarityIndex(session)
            probe = values[-1]
            assert any(hit[2] == 0 for hit in live.search(QueryHash("phash", 64, probe), 0))
        queries = [_near(v, rng, int(rng.integers(0, 9))) for v in rng.choice(values, 40)]
        _same_answers(catalogue, queries)
    base = live_index._BASES[catalogue.engine][("phash", 64)]
    with catalogue.session.begin() as session:
        _add(session, rng, 10, "small")
    _same_answers(catalogue, values[:5])
    # a small commit reuses the cached base instead of reloading every row
    assert live_index._BASES[catalogue.engine][("phash", 64)] is base


def test_rolled_back_rows_never_enter_the_cache(catalogue) -> None:
    rng = np.random.default_rng(8)
    with catalogue.session.begin() as session:
        _add(session, rng, 200, "kept")
    session = catalogue.session()
    ghost = _add(session, rng, 50, "ghost")
    LiveSimilarityIndex(session).search(QueryHash("phash", 64, ghost[0]), 8)
    session.rollback()
    session.close()
    with catalogue.session() as fresh:
        hits = LiveSimilarityIndex(fresh).search(QueryHash("phash", 64, ghost[0]), 0)
        assert not [h for h in hits if h[0].startswith("ghost")]


def test_a_catalogue_wiped_elsewhere_is_noticed(catalogue) -> None:
    rng = np.random.default_rng(9)
    with catalogue.session.begin() as session:
        old = _add(session, rng, 300, "old")
    _same_answers(catalogue, old[:10])  # warms the cache
    # another process wipes and refills the table with other hashes: same ids, same count
    with catalogue.session.begin() as session:
        session.execute(delete(PerceptualHash))
    with catalogue.session.begin() as session:
        new = _add(session, rng, 300, "new")
    _same_answers(catalogue, old[:10] + new[:10])
    with catalogue.session() as session:
        hits = LiveSimilarityIndex(session).search(QueryHash("phash", 64, old[0]), 0)
        assert not [h for h in hits if h[0].startswith("old")]


def test_a_lower_id_committed_late_is_still_found(catalogue) -> None:
    """With database sequences a slow transaction can commit an id below the cached maximum."""
    rng = np.random.default_rng(10)
    with catalogue.session.begin() as session:
        _add(session, rng, 100, "early")
        late = session.get(PerceptualHash, 90)
        late_value, late_sha = late.value, late.sha256
        session.delete(late)  # id 90 is "in flight": not committed when the cache is built
    _same_answers(catalogue, [late_value])  # warms the cache without id 90
    with catalogue.session.begin() as session:
        session.add(
            PerceptualHash(id=90, sha256=late_sha, algorithm="phash", bits=64, value=late_value,
                           prefix=int(late_value[:4], 16), library="test")
        )
    with catalogue.session() as session:
        hits = LiveSimilarityIndex(session).search(QueryHash("phash", 64, late_value), 0)
        assert [h[0] for h in hits] == [late_sha]


def test_a_fresh_process_starts_from_the_snapshot_and_never_trusts_a_stale_one(
    catalogue_url: str, tmp_path, monkeypatch
) -> None:
    rng = np.random.default_rng(11)
    first = Catalogue.open(catalogue_url)
    live_index.place_snapshots(first.engine, tmp_path / "index")
    with first.session.begin() as session:
        values = _add(session, rng, 3000, "snap")
    queries = [_near(v, rng, int(rng.integers(0, 6))) for v in values[:30]]
    _same_answers(first, queries)  # loads the base from the database and writes the snapshot
    pointer = live_index.snapshot_dir(first.engine) / "phash-64.current"
    assert pointer.is_file()
    first.close()

    # a new process (a new engine): the base comes from the file, not from every row
    second = Catalogue.open(catalogue_url)
    live_index.place_snapshots(second.engine, tmp_path / "index")
    real_bulk = live_index._bulk_rows
    monkeypatch.setattr(live_index, "_bulk_rows", lambda *a: pytest.fail("read every row"))
    try:
        _same_answers(second, queries)
        # another process changes a row under the snapshot (same id, another value)
        with second.session.begin() as session:
            row = session.scalars(select(PerceptualHash).where(PerceptualHash.value == values[0])).one()
            row.value = f"{int(values[0], 16) ^ 0xFFFF_FFFF:016x}"
        monkeypatch.setattr(live_index, "_bulk_rows", real_bulk)  # a reload is now right
        with second.session() as session:
            hits = LiveSimilarityIndex(session).search(QueryHash("phash", 64, values[0]), 0)
            assert [h[0] for h in hits if h[0] == row.sha256] == []
        _same_answers(second, [*queries, row.value])
    finally:
        live_index.forget(second.engine)
        second.close()
