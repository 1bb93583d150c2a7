"""Replication benchmark: captures to the primary alone, then to the primary and one replica.

Targets (issue: replicas): writing 1 GiB of captures to the primary and one replica takes at
most 1.3x the wall time of the primary alone (the replica copies overlap the commits: they
run in the replicator's background thread), and encrypting the replica (AES-256-GCM) adds
at most 15 % CPU over the plaintext replica.

Each capture goes through the real pipeline (``runner.capture_source``: staging, fsync,
digests, the enricher, signature, manifest, ledger) with a collector that writes
``--size-mib`` of fresh bytes per capture (a unique prefix over one pre-generated random
block, so the blobs differ and generation costs nothing). Three contenders, each in a new
home, alternate for ``--rounds`` rounds: ``primary`` (no replicas), ``replica`` (one file
replica on the same disk: the worst case for overlap) and ``encrypted`` (the same with
``encrypt = true``). Wall time runs until the runtime is closed, i.e. until the replica
holds every object; CPU is the process's (all threads). Medians are compared.
Usage: python bench/replicate.py [--total-gib 1] [--size-mib 128] [--rounds 2].
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / ".work" / "replicate"

from collectors.base import CollectedCapture, Collector, StagedArtifact  # noqa: E402
from kernel.netpolicy import NetworkPolicy  # noqa: E402
from kernel.settings import load_settings  # noqa: E402
from preservation.catalogue import watchlist  # noqa: E402
from preservation.runner import capture_source  # noqa: E402
from preservation.runtime import open_runtime  # noqa: E402

MiB = 1 << 20


class BlockWriter(Collector):
    """Writes one file per capture: a unique prefix, then the shared random block."""

    name, version = "bench-replicate", "1"

    def __init__(self, block: bytes, size: int) -> None:
        self.block = block
        self.size = size
        self.count = 0

    def collect(self, source, ctx):  # type: ignore[no-untyped-def]
        self.count += 1
        path = ctx.staging / "capture.bin"
        with open(path, "wb") as out:
            out.write(f"capture {self.count} {time.time_ns()}\n".encode())
            left = self.size
            while left > 0:
                out.write(self.block[: min(left, len(self.block))])
                left -= len(self.block)
        return CollectedCapture(
            "complete",
            artifacts=[StagedArtifact("capture.bin", "other", "application/octet-stream")],
        )


def run(
    contender: str, captures: int, size: int, block: bytes, kek: str, replica_dir: Path | None
) -> tuple[float, float]:
    home = WORK / contender
    replica = (replica_dir or home) / f"replica-{contender}"
    shutil.rmtree(replica, ignore_errors=True)
    shutil.rmtree(WORK / contender, ignore_errors=True)
    home.mkdir(parents=True)
    env = {"WITNESSBOX_HOME": str(home), "WITNESSBOX_KEK": kek, "WITNESSBOX_OPERATOR": "bench"}
    if contender != "primary":
        encrypt = "true" if contender == "encrypted" else "false"
        (home / "witnessbox.toml").write_text(
            f'[[replicas]]\nname = "copy"\nurl = "file://{replica}"\nencrypt = {encrypt}\n'
        )
    rt = open_runtime(load_settings(env))
    collector = BlockWriter(block, size)
    rt.collectors["web"] = collector
    sources = []
    for n in range(captures):
        spec = watchlist.validate_entry(f"https://example.org/{n}", NetworkPolicy(), kind="web")
        sources.append(watchlist.add_source(rt.catalogue, spec, "bench", rt.clock()))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        for source in sources:
            capture_source(rt, source)
    finally:
        rt.close()  # waits until the replica holds everything
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if contender != "primary":
        copies = sum(1 for p in (replica / "blobs").rglob("*") if p.is_file())
        assert copies == captures, f"{contender}: the replica holds {copies} of {captures} blobs"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(replica, ignore_errors=True)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-gib", type=float, default=1.0)
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--replica-dir",
        type=Path,
        help="where the replica lives (default: beside the primary, on the same disk)",
    )
    args = parser.parse_args()
    size = args.size_mib * MiB
    captures = max(1, round(args.total_gib * 1024 / args.size_mib))
    block = os.urandom(8 * MiB)
    kek = base64.b64encode(os.urandom(32)).decode()
    print(
        f"{captures} captures x {args.size_mib} MiB, {args.rounds} round(s), cores {os.cpu_count()}"
    )
    results: dict[str, list[tuple[float, float]]] = {"primary": [], "replica": [], "encrypted": []}
    for r in range(args.rounds):
        for contender in results:
            wall, cpu = run(contender, captures, size, block, kek, args.replica_dir)
            results[contender].append((wall, cpu))
            print(f"round {r + 1} {contender:9s} wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in results.items()
    }
    wall_ratio = med["replica"][0] / med["primary"][0]
    cpu_extra = med["encrypted"][1] / med["replica"][1] - 1
    enc_wall = med["encrypted"][0] / med["primary"][0]
    cpu_ratio = med["replica"][1] / med["primary"][1]
    print("contender  wall s (median)  cpu s (median)")
    for k, (w, c) in med.items():
        print(f"{k:9s}  {w:15.2f}  {c:14.2f}")
    print(f"primary + replica / primary alone, wall: {wall_ratio:.2f}x (target <= 1.30x)")
    print(f"primary + encrypted replica / primary alone, wall: {enc_wall:.2f}x")
    print(f"primary + replica / primary alone, CPU: {cpu_ratio:.2f}x")
    print(
        f"encryption, extra CPU over the plaintext replica: {cpu_extra * 100:+.1f} % (target <= 15 %)"
    )
    ok = wall_ratio <= 1.3 and cpu_extra <= 0.15
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
