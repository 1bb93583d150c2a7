"""Fixity audit benchmark: `witnessbox verify --all` against `sha256sum` over the same blobs.

Target (issue: custody): a full fixity audit of 2 GiB in 2,000 objects on the filesystem
store reaches at least 0.8x the throughput of `sha256sum` over the same files, measured in
the same run. The archive (20 captures x 100 artifacts of 1/1000 GiB, random bytes) is
built once through the real pipeline under bench/.work/audit/ and reused.

Page cache, the same for both contenders: ``--cache warm`` (default) reads every blob once
before each timed run, so both hash from memory; ``--cache cold`` evicts every blob from the
page cache (``posix_fadvise(DONTNEED)``, which needs no privilege) before each timed run, so
both read from disk. The audit is timed in a child process around `run_audit` (the whole
staged audit: manifests, signatures, stats, the full re-read, and recording the result);
its interpreter start-up is reported separately, and a second ratio counts it. Contenders
alternate (sha256sum, then ``openssl dgst -sha256`` as a stricter reference: coreutils'
sha256sum does not use the CPU's SHA extensions, OpenSSL and Python's hashlib do), then
the audit, for ``--rounds`` rounds; medians are compared.
Usage: python bench/audit.py [--objects 2000] [--total-gib 2] [--rounds 3] [--cache warm].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "audit"

BUILD = """
import os, sys
sys.path.insert(0, sys.argv[1])
from collectors.base import Collector, CollectedCapture, StagedArtifact
from hashing.enrich import Enricher
from preservation.catalogue import watchlist
from kernel.netpolicy import NetworkPolicy
from preservation.runner import capture_source
from preservation.runtime import open_runtime
from kernel.settings import load_settings

captures, per_capture, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

class RandomFiles(Collector):
    name, version = "bench-random", "1"
    def collect(self, source, ctx):
        artifacts = []
        for n in range(per_capture):
            with open(ctx.staging / f"f{n:04d}.bin", "wb") as out:
                out.write(os.urandom(size))
            artifacts.append(StagedArtifact(f"f{n:04d}.bin", "other", "application/octet-stream"))
        return CollectedCapture("complete", artifacts=artifacts)

rt = open_runtime(load_settings(), enricher_factory=Enricher)
rt.collectors["web"] = RandomFiles()
for c in range(captures):
    spec = watchlist.validate_entry(f"https://example.org/bench/{c}", NetworkPolicy(), kind="web")
    source = watchlist.add_source(rt.catalogue, spec, "bench", rt.clock())
    capture_source(rt, source)
rt.close()
"""

AUDIT = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from preservation.custody.audit import run_audit
from preservation.runtime import open_runtime
from kernel.settings import load_settings
rt = open_runtime(load_settings())
t1 = time.perf_counter()
report = run_audit(rt, workers=int(sys.argv[2]))
t2 = time.perf_counter()
rt.close()
print(json.dumps({"startup": t1 - t0, "seconds": t2 - t1, "ok": report.ok,
                  "blobs": report.blobs, "bytes": report.bytes}))
"""


def build(home: Path, objects: int, size: int) -> None:
    marker = home / f"built-{objects}x{size}"
    if marker.exists():
        return
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    per_capture = 100 if objects >= 100 else objects
    captures = max(1, objects // per_capture)
    print(f"building {captures} captures x {per_capture} objects of {size} bytes …", flush=True)
    env = {**os.environ, "WITNESSBOX_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-c", BUILD, str(ROOT), str(captures), str(per_capture), str(size)],
        env=env,
        check=True,
    )
    os.sync()
    marker.touch()


def blob_files(home: Path) -> list[str]:
    return sorted(str(p) for p in (home / "store" / "blobs").rglob("*") if p.is_file())


def warm(files: list[str]) -> None:
    for path in files:
        with open(path, "rb") as stream:
            while stream.read(8 << 20):
                pass


def evict(files: list[str]) -> None:
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(command: list[str], files: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*command, *files], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--total-gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", choices=("warm", "cold"), default="warm")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-ratio", type=float, default=0.8)
    args = parser.parse_args()

    size = int(args.total_gib * (1 << 30)) // args.objects
    home = WORK / f"home-{args.objects}x{size}"
    build(home, args.objects, size)
    files = blob_files(home)
    total = sum(os.path.getsize(f) for f in files)
    mib = total / (1 << 20)
    prepare = warm if args.cache == "warm" else evict
    env = {**os.environ, "WITNESSBOX_HOME": str(home)}
    tool: list[float] = []
    ossl: list[float] = []
    audit: list[float] = []
    startup: list[float] = []
    for _ in range(args.rounds):
        prepare(files)
        tool.append(timed(["sha256sum"], files))
        prepare(files)
        ossl.append(timed(["openssl", "dgst", "-sha256"], files))
        prepare(files)
        out = subprocess.run(
            [sys.executable, "-c", AUDIT, str(ROOT), str(args.workers)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if not result["ok"] or result["blobs"] != len(files):
            print(f"audit did not verify the whole archive: {result}")
            return 1
        audit.append(result["seconds"])
        startup.append(result["startup"])
    t_tool, t_audit = statistics.median(tool), statistics.median(audit)
    print(
        f"archive: {len(files)} objects, {total / (1 << 30):.2f} GiB, {args.rounds} round(s), "
        f"{args.cache} page cache for both, medians"
    )
    t_ossl, t_start = statistics.median(ossl), statistics.median(startup)
    rows = [
        ("sha256sum (coreutils)", t_tool, ""),
        ("openssl dgst -sha256", t_ossl, "  (reference, not the target)"),
        (f"witnessbox audit, {args.workers} thread(s)", t_audit,
         f"  (+{t_start:.1f} s interpreter start-up, not counted)"),
    ]
    for label, seconds, note in rows:
        print(f"  {label:32} {seconds:7.2f} s  {mib / seconds:8.1f} MiB/s{note}")
    print(f"  rounds: sha256sum {fmt(tool)} s; openssl {fmt(ossl)} s; audit {fmt(audit)} s")
    print(f"  audit / openssl dgst throughput (not the target): {t_ossl / t_audit:.2f}")
    print(f"  ratio counting the audit's interpreter start-up: {t_tool / (t_audit + t_start):.2f}")
    ratio = t_tool / t_audit
    verdict = "PASS" if ratio >= args.min_ratio else "FAIL"
    print(f"audit throughput / sha256sum throughput: ratio {ratio:.2f} (target ≥ {args.min_ratio}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
