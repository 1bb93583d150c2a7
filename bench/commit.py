"""Commit benchmark: small captures committed one after another in one process.

`witnessbox run` captures source after source in one process. Each commit reads its media's
embedded metadata with exiftool, a Perl program whose start costs more than reading a
small photo. Measured: commits of a capture holding one page and one JPEG (with EXIF),
through the real pipeline (store, digests, perceptual hashes, exiftool, manifest,
signature, catalogue, ledger) on a fresh file store and SQLite catalogue, with the
runtime's warm exiftools (the default). Baseline, in the same run: the same commits with
an exiftool started per commit (what every commit did before the runtime kept them).
Usage: python bench/commit.py [--commits 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))
WORK = ROOT / "bench" / ".work" / "commit"


def jpeg(n: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (640, 480), (n % 256, 80, 160))
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = f"Model {n}"  # Model
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def commits(home: Path, count: int, warm: bool) -> list[float]:
    """Per-commit seconds of ``count`` captures of distinct sources in one runtime."""
    from hashing.enrich import Enricher
    from kernel.netpolicy import NetworkPolicy
    from kernel.settings import load_settings
    from preservation.catalogue import watchlist
    from preservation.runner import capture_source
    from preservation.runtime import open_runtime
    from tests.support.fake_collector import StaticCollector

    shutil.rmtree(home, ignore_errors=True)
    extra: dict[str, Any] = {} if warm else {"enricher_factory": Enricher}
    rt = open_runtime(load_settings({"WITNESSBOX_HOME": str(home)}), **extra)
    times = []
    try:
        for n in range(count):
            spec = watchlist.validate_entry(f"https://example.org/{n}", NetworkPolicy(), kind="web")
            source = watchlist.add_source(rt.catalogue, spec, "bench", rt.clock())
            page = f"<html><body>report {n}</body></html>".encode()
            rt.collectors["web"] = StaticCollector({"page.html": page, "photo.jpg": jpeg(n)})
            started = time.perf_counter()
            outcome = capture_source(rt, source)
            times.append(time.perf_counter() - started)
            assert outcome.status == "complete", outcome
    finally:
        rt.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    commits(WORK / "warmup", 3, warm=True)  # imports, first-use costs outside the clock
    medians: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):
        for warm in (False, True):  # alternate, so drift hits both alike
            times = commits(WORK / ("warm" if warm else "cold"), args.commits, warm)
            medians[warm].append(statistics.median(times[1:]))  # the first starts exiftool
    cold, warm = statistics.median(medians[False]), statistics.median(medians[True])
    print(f"{args.commits} commits per round, {args.rounds} rounds, median per commit:")
    print(f"  exiftool started per commit (baseline): {cold * 1000:7.1f} ms")
    print(f"  warm exiftool (the runtime's):          {warm * 1000:7.1f} ms")
    print(f"commit time warm / per-commit exiftool: ratio {warm / cold:.2f} "
          f"({(cold - warm) * 1000:.0f} ms saved per commit)")  # fmt: skip
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
