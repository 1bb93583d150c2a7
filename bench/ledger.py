"""Ledger reading benchmark: the entries about a few captures out of a large ledger.

`export` and `ledger list --subject` ask for the entries about some captures: their own
(captured, stored, accessed...) and those that name them in their data (seals, exports).
Measured: ``Ledger.entries(subjects)`` (subject index + the ``ledger_mentions`` index) on a
SQLite catalogue of N entries. Baseline, in the same run on the same catalogue: reading
every entry and filtering in Python, which is what ``entries`` did before the mentions
index. Also printed: the same query at N/10, to show it does not grow with the ledger.
Usage: python bench/ledger.py [--entries 1000000] [--captures 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / ".work" / "ledger"
#: one seal batch per this many captures (a seal names its captures in its data)
SEAL_EVERY = 100


def build(path: Path, entries: int) -> list[str]:
    """A ledger shaped like an archive's: per capture `captured` + `stored`, one `sealed`
    naming each 100 captures; returns the capture ids. Built once, reused."""
    from sqlalchemy import func, insert, select

    from preservation.catalogue.ledger_index import mentions
    from preservation.catalogue.models import Catalogue, LedgerEntry, LedgerMention

    catalogue = Catalogue.open(f"sqlite:///{path}")
    captures = [f"0190{n:08x}-0000-7000-8000-000000000000" for n in range(entries // 2)]
    with catalogue.session() as session:
        have = session.scalar(select(func.count()).select_from(LedgerEntry))
    if have >= entries:
        catalogue.close()
        return captures
    now = datetime(2026, 12, 3, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    batch: list[str] = []
    seq = 0

    def add(event: str, subject: str, data: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        rows.append(dict(seq=seq, at=now, event=event, subject=subject, actor="bench",
                         data=data, prev_hash="0" * 64, entry_hash=f"{seq:064x}"))  # fmt: skip

    def flush(conn: Any) -> None:
        """Insert the rows gathered so far and the ids they name, as the ledger does."""
        if rows:
            conn.execute(insert(LedgerEntry), rows)
            names = [{"name": n, "seq": r["seq"]} for r in rows
                     for n in mentions(r["subject"], r["data"])]  # fmt: skip
            conn.execute(insert(LedgerMention), names)
            rows.clear()

    with catalogue.engine.begin() as conn:
        for cid in captures:
            if seq >= entries:
                break
            add("captured", cid, {"source_id": "src-1", "status": "complete"})
            add("stored", f"captures/{cid}/manifest.json", {"capture_id": cid, "sha256": "0" * 64})
            batch.append(cid)
            if len(batch) == SEAL_EVERY:
                add("sealed", f"seals/b{seq}/seal.json", {"captures": batch, "batch": f"b{seq}"})
                batch = []
            if len(rows) >= 20_000:
                flush(conn)
        flush(conn)
    catalogue.close()
    return captures


def full_scan(catalogue: Any, subjects: list[str]) -> list[int]:
    """The baseline: every entry read, then filtered in Python (the former ``entries``)."""
    from sqlalchemy import select

    from preservation.catalogue.ledger_index import mentions
    from preservation.catalogue.models import LedgerEntry

    wanted = set(subjects)
    with catalogue.session() as session:
        rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
        return [r.seq for r in rows
                if r.subject in wanted or wanted & mentions(r.subject, r.data)]  # fmt: skip


def indexed(catalogue: Any, subjects: list[str]) -> list[int]:
    from preservation.catalogue.ledger_index import entries_about

    with catalogue.session() as session:
        return [r.seq for r in entries_about(session, subjects)]


def timed(fn: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    from preservation.catalogue.models import Catalogue

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--captures", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results = {}
    for size in (args.entries // 10, args.entries):
        path = WORK / f"ledger-{size}.sqlite"
        captures = build(path, size)
        step = max(1, len(captures) // (3 * args.captures))
        subjects = captures[::step][: args.captures]  # spread over the ledger
        catalogue = Catalogue.open(f"sqlite:///{path}")
        try:
            fast, got = timed(lambda c=catalogue, s=subjects: indexed(c, s), args.rounds)
            rounds = 1 if size == args.entries else min(args.rounds, 3)
            slow, want = timed(lambda c=catalogue, s=subjects: full_scan(c, s), rounds)
        finally:
            catalogue.close()
        assert got == want, "the indexed read and the full scan disagree"
        results[size] = (fast, slow, len(got))
        print(f"{size:>9,} entries: indexed {fast * 1000:8.2f} ms, full scan "
              f"{slow * 1000:9.1f} ms ({len(got)} entries about {len(subjects)} captures)")  # fmt: skip
    small, large = results[args.entries // 10], results[args.entries]
    print(f"speed-up over the full scan at {args.entries:,}: {large[1] / large[0]:,.0f}x; "
          f"indexed read at {args.entries:,} vs {args.entries // 10:,}: "
          f"{large[0] / small[0]:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
