"""Full-text search at a million messages: indexing rate and query latency, SQLite (and PostgreSQL).

Builds 1,000,000 synthetic messages (5 to 40 words from a 30,000-word vocabulary with Zipf
frequencies: Russian and Belarusian-like Cyrillic words, ё and ў included, and Latin
words), indexes them through ``preservation.search.index.write_docs`` (the commit path:
normaliser, documents, word index) in batches of 10,000, then runs 300 queries of every
shape (rare, common and mid-frequency words, two-word AND, phrases taken from real
messages, prefixes, OR, NOT, with and without a case filter) through ``search()`` with the
default limit (50 hits, snippets included).

Baselines in the same run: the same rows inserted without the word index (indexing
overhead), and a ``LIKE '%word%'`` scan for a few single words (what search costs without
an index). Targets on SQLite: p50 ≤ 50 ms, p99 ≤ 300 ms, ≥ 5,000 messages/s indexed.

Run: ``python bench/search.py [--messages 1000000] [--queries 300] [--postgres]``
(``--postgres`` starts a throwaway cluster with tests/support/postgres.py: fsync off).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from preservation.catalogue.models import Catalogue  # noqa: E402
from preservation.search.index import Filters, search, write_docs  # noqa: E402
from preservation.search.models import SearchDoc  # noqa: E402

CYR = "абвгдеёжзийклмнопрстуфхцчшщыьэюяіў"
LAT = "abcdefghijklmnopqrstuvwxyz"
BATCH = 10_000
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        alphabet = CYR if rng.random() < 0.8 else LAT
        n = int(rng.integers(3, 11))
        words.add("".join(alphabet[i] for i in rng.integers(0, len(alphabet), n)))
    return sorted(words, key=lambda w: rng.random())


def messages(rng: np.random.Generator, vocab: list[str], count: int):
    ranks = np.arange(1, len(vocab) + 1)
    weights = 1.0 / ranks
    weights /= weights.sum()
    lengths = rng.integers(5, 41, size=count)
    picks = rng.choice(len(vocab), size=int(lengths.sum()), p=weights)
    pos = 0
    for n in lengths:
        chosen = picks[pos : pos + n]
        pos += n
        yield " ".join(vocab[i].capitalize() if j == 0 else vocab[i] for j, i in enumerate(chosen))


def row(n: int, body: str) -> dict:
    at = T0 + timedelta(seconds=n * 30)
    return dict(capture_id=f"cap-{n // 100:08d}", source_id=f"src{n % 200:03d}", kind="telegram",
                case_id=f"CASE-{n % 50}", status="complete", captured_at=at, posted_at=at,
                field="message", item=str(n), version=1, artifact="messages/x.json", text=body)  # fmt: skip


def build(url: str, texts: list[str]) -> tuple[Catalogue, float, float]:
    catalogue = Catalogue.open(url)
    rows = [row(n, t) for n, t in enumerate(texts)]
    # baseline: the same rows, no word index (a scratch table, dropped after)
    with catalogue.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_plain AS SELECT * FROM search_docs WHERE 1=0"))
    plain_table = SearchDoc.__table__.to_metadata(__import__("sqlalchemy").MetaData(),
                                                  name="bench_plain")  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with catalogue.engine.begin() as conn:
            conn.execute(insert(plain_table), rows[start : start + BATCH])
    plain = time.perf_counter() - started
    with catalogue.engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_plain"))
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with catalogue.session.begin() as session:
            write_docs(session, rows[start : start + BATCH])
    indexed = time.perf_counter() - started
    with catalogue.engine.begin() as conn:  # what autovacuum (or a nightly ANALYZE) does
        conn.execute(text("ANALYZE"))
    return catalogue, plain, indexed


def queries(rng: np.random.Generator, vocab: list[str], texts: list[str], count: int) -> list:
    out = []
    for n in range(count):
        shape = n % 8
        common, mid, rare = vocab[int(rng.integers(0, 10))], vocab[int(rng.integers(100, 1000))], \
            vocab[int(rng.integers(5000, len(vocab)))]  # fmt: skip
        if shape == 0:
            q = rare
        elif shape == 1:
            q = mid
        elif shape == 2:
            q = f"{mid} {common}"
        elif shape == 3:
            words = texts[int(rng.integers(0, len(texts)))].split()
            i = int(rng.integers(0, len(words) - 1))
            q = f'"{words[i]} {words[i + 1]}"'
        elif shape == 4:
            q = mid[:4] + "*"
        elif shape == 5:
            q = f"{rare} OR {mid}"
        elif shape == 6:
            q = f"{mid} NOT {common}"
        else:
            q = common
        case = f"CASE-{int(rng.integers(0, 50))}" if n % 3 == 0 else None
        out.append((q, case))
    return out


def run_queries(catalogue: Catalogue, qs: list) -> list[float]:
    times = []
    for q, case in qs:
        started = time.perf_counter()
        with catalogue.session() as session:
            search(session, q, Filters(case=case))
        times.append((time.perf_counter() - started) * 1000)
    return times


def like_baseline(catalogue: Catalogue, words: list[str]) -> float:
    times = []
    for word in words:
        started = time.perf_counter()
        with catalogue.engine.connect() as conn:
            conn.execute(text("SELECT id FROM search_docs WHERE lower(text) LIKE :p "
                              "ORDER BY id DESC LIMIT 50"), {"p": f"%{word}%"}).all()  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def report(name: str, catalogue: Catalogue, count: int, plain: float, indexed: float,
           qs: list, like_words: list[str]) -> dict:  # fmt: skip
    run_queries(catalogue, qs[:20])  # warm the cache
    times = sorted(run_queries(catalogue, qs))
    p50, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
    like = like_baseline(catalogue, like_words)
    rate = count / indexed
    print(f"{name}: indexed {count:,} messages in {indexed:.1f} s = {rate:,.0f} msg/s "
          f"(plain insert {count / plain:,.0f} rows/s: index costs {indexed / plain:.2f}x)")
    print(f"{name}: {len(times)} queries p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms;"
          f" LIKE scan p50 {like:.0f} ms: search is {like / p50:,.0f}x faster")  # fmt: skip
    return {"rate": rate, "p50": p50, "p99": p99}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    vocab = vocabulary(rng, 30_000)
    started = time.perf_counter()
    texts = list(messages(rng, vocab, args.messages))
    print(f"generated {len(texts):,} messages in {time.perf_counter() - started:.1f} s")
    qs = queries(rng, vocab, texts, args.queries)
    like_words = [vocab[int(i)] for i in rng.integers(5000, len(vocab), 5)]  # rare: whole scans
    work = ROOT / "bench" / ".work" / "search"
    work.mkdir(parents=True, exist_ok=True)
    path = work / "catalogue.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    catalogue, plain, indexed = build(f"sqlite:///{path}", texts)
    lite = report("sqlite", catalogue, len(texts), plain, indexed, qs, like_words)
    catalogue.close()
    if args.postgres:
        from tests.support.postgres import start, stop_cluster

        server = start()
        try:
            catalogue, plain, indexed = build(server.new_database(), texts)
            report("postgresql", catalogue, len(texts), plain, indexed, qs, like_words)
            catalogue.close()
        finally:
            stop_cluster(server.base)
    ok = lite["p50"] <= 50 and lite["p99"] <= 300 and lite["rate"] >= 5000
    print(f"{'PASS' if ok else 'FAIL'}: sqlite p50 {lite['p50']:.1f} ms (≤ 50), "
          f"p99 {lite['p99']:.1f} ms (≤ 300), {lite['rate']:,.0f} msg/s (≥ 5,000)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
