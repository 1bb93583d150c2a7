"""Near-duplicate linking per commit at a million archived hashes: warm index vs snapshot.

Each commit links its new artifacts to the archive. ``SimilarityIndex`` (a snapshot)
reloads every hash of the algorithm per commit; ``LiveSimilarityIndex`` keeps the
committed rows per process and reads only the newer ones. The catalogue is a SQLite file
under ``bench/.work/link/`` with 1,000,000 random 64-bit pHashes; each measured commit adds
10 rows and searches them at distance 8, as ``link_artifacts`` does. Both must return the
same matches. The ratio (snapshot / warm, per commit) is printed last.

Run: ``python bench/link.py [--rows 1000000] [--commits 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from preservation.catalogue.live_index import LiveSimilarityIndex  # noqa: E402
from preservation.catalogue.models import Catalogue, PerceptualHash  # noqa: E402
from preservation.catalogue.similarity import QueryHash, SimilarityIndex  # noqa: E402


def _hex(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{int(v):016x}" for v in rng.integers(0, 2**63, size=n, dtype=np.int64)]


def _row(sha256: str, value: str) -> dict:
    return dict(sha256=sha256, algorithm="phash", bits=64, value=value,
                prefix=int(value[:4], 16), frame=None, quality=None, library="bench")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--commits", type=int, default=5)
    args = ap.parse_args()
    work = ROOT / "bench" / ".work" / "link"
    work.mkdir(parents=True, exist_ok=True)
    path = work / "catalogue.sqlite"
    path.unlink(missing_ok=True)
    catalogue = Catalogue.open(f"sqlite:///{path}")
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for start in range(0, args.rows, 100_000):
        n = min(100_000, args.rows - start)
        with catalogue.engine.begin() as conn:
            conn.execute(insert(PerceptualHash),
                         [_row(f"{start + i:064d}", v) for i, v in enumerate(_hex(rng, n))])  # fmt: skip
    print(f"catalogue: {args.rows:,} pHashes written in {time.perf_counter() - started:.1f} s")

    def commit(cls: type[SimilarityIndex]) -> tuple[float, list]:
        with catalogue.session.begin() as session:
            new = _hex(rng, 10)
            for v in new:
                session.add(PerceptualHash(**_row("f" * 64, v)))
            session.flush()
            t = time.perf_counter()
            index = cls(session)
            hits = [sorted(index.search(QueryHash("phash", 64, v), 8)) for v in new]
            elapsed = time.perf_counter() - t
            # the same rows through the other index: the answers must agree
            other = (SimilarityIndex if cls is LiveSimilarityIndex else LiveSimilarityIndex)(session)
            assert hits == [sorted(other.search(QueryHash("phash", 64, v), 8)) for v in new]
            return elapsed, hits

    t = time.perf_counter()
    commit(LiveSimilarityIndex)  # the one-off load of the warm index
    first = time.perf_counter() - t
    snapshot = [commit(SimilarityIndex)[0] for _ in range(args.commits)]
    warm = [commit(LiveSimilarityIndex)[0] for _ in range(args.commits)]
    s, w = statistics.median(snapshot), statistics.median(warm)
    print(f"warm index, first use in a process (loads the base, with a check): {first:.2f} s")
    print(f"snapshot index per commit: median {s:.3f} s ({', '.join(f'{x:.2f}' for x in snapshot)})")
    print(f"warm index per commit:     median {w * 1000:.1f} ms")
    catalogue.close()
    print(f"linking per commit at {args.rows:,} hashes: snapshot / warm = {s / w:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
