"""Ingest benchmark: a 1 GiB file into the filesystem store with sha256, sha512 and md5.

Target (issue: foundation): ingest time ≤ 1.3x the slowest of the three digests computed
alone over the same file, measured in the same run, with peak RSS < 100 MiB. Every
measurement runs in a fresh child process (so RSS is the ingest's own), the file is in the
page cache and synced first, and each figure is the median of several rounds.
Usage: python bench/ingest.py [--size-mib 1024] [--rounds 3]. The ratio is printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"

CHILD_DIGEST = """
import hashlib, json, resource, sys, time
name, path = sys.argv[1], sys.argv[2]
h = hashlib.new(name)
t = time.perf_counter()
with open(path, "rb") as f:
    while chunk := f.read(4 << 20):
        h.update(chunk)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

CHILD_INGEST = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
from preservation.store.filesystem import FileStore
path, store_dir, _, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
store = FileStore(store_dir)
t = time.perf_counter()
if mode == "file":
    digests = store.put_file(path)
else:  # the stream path: copy through the hashing tee (another filesystem, a network body)
    with open(path, "rb") as stream:
        digests = store.put_stream(stream)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "sha256": digests.sha256}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def make_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as out:
        block = os.urandom(16 << 20)
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
    os.sync()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=1.3)
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / f"ingest-{args.size_mib}m.bin"
    make_file(source, args.size_mib << 20)
    child(CHILD_DIGEST, "md5", str(source))  # warm the page cache

    alone: dict[str, list[float]] = {"sha256": [], "sha512": [], "md5": []}
    ingest: list[float] = []
    stream: list[float] = []
    rss = 0
    for round_no in range(args.rounds):
        for name in alone:
            alone[name].append(child(CHILD_DIGEST, name, str(source))["seconds"])
        for mode, sink in (("file", ingest), ("stream", stream)):
            store = WORK / f"store-{round_no}-{mode}"
            shutil.rmtree(store, ignore_errors=True)
            os.sync()
            result = child(CHILD_INGEST, str(source), str(store), str(ROOT), mode)
            sink.append(result["seconds"])
            rss = max(rss, result["rss_kib"])
            subprocess.run(["chmod", "-R", "u+w", str(store)], check=True)
            shutil.rmtree(store)

    medians = {name: statistics.median(times) for name, times in alone.items()}
    slowest_name = max(medians, key=medians.get)
    slowest = medians[slowest_name]
    ingest_median = statistics.median(ingest)
    stream_median = statistics.median(stream)
    mib = args.size_mib
    print(f"file: {mib} MiB, {args.rounds} rounds, medians")
    for name, seconds in medians.items():
        print(f"  {name:<7} alone      {seconds:6.3f} s  {mib / seconds:7.1f} MiB/s")
    print(f"  ingest (same filesystem: hash once, link)   {ingest_median:6.3f} s  {mib / ingest_median:7.1f} MiB/s")
    print(f"  ingest (stream: copy through the hash tee)  {stream_median:6.3f} s  "
          f"ratio {stream_median / slowest:.2f} (informational)")
    print(f"  peak RSS of the ingest process: {rss / 1024:.1f} MiB (limit 100 MiB)")
    ratio = ingest_median / slowest
    verdict = "PASS" if ratio <= args.max_ratio and rss < 100 * 1024 else "FAIL"
    print(f"ingest / slowest digest alone ({slowest_name}): ratio {ratio:.3f} (target ≤ {args.max_ratio}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
