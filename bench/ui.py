"""UI pages benchmark: server-side render time at 10,000 sources and 100,000 captures.

Target (issue: operate): every witnessbox page (Watchlist, Captures, a capture's detail,
Audit; filtered and not) renders in under 300 ms with 10,000 sources and 100,000 captures
(3 artifacts each) in the SQLite catalogue. Baseline, measured in the same run: the same
pages over a small catalogue (100 sources, 1,000 captures); the ratio large/small shows
how the pages scale. Each page goes through the real FastAPI app (routing, queries, HTML)
with the login check replaced by a fixed admin, since Airflow's JWT check is the same cost
at any size. Catalogues are built once under bench/.work/ui/ and reused.
Usage: python bench/ui.py [--rounds 15] [--sources 10000] [--captures 100000].
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))
WORK = ROOT / "bench" / ".work" / "ui"
TARGET_MS = 300.0


def build(home: Path, sources: int, captures: int) -> None:
    """Bulk-insert a catalogue of ``sources`` and ``captures`` (plus artifacts, hashes,
    seals, audits and a ledger head) with one manifest in the store for the detail page."""
    from sqlalchemy import insert

    from kernel.ids import uuid7
    from kernel.settings import load_settings
    from preservation.catalogue.models import (
        Artifact,
        AuditResult,
        Capture,
        LedgerEntry,
        PerceptualHash,
        Source,
    )
    from preservation.custody.timestamps import SealedCapture
    from preservation.runtime import open_runtime

    rt = open_runtime(load_settings({"WITNESSBOX_HOME": str(home)}))
    rnd = random.Random(7)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = ("web", "video", "telegram")
    src_rows = [
        {
            "id": f"src-{i:012x}", "kind": kinds[i % 3], "url": f"https://example.org/s/{i}",
            "schedule_seconds": 86400, "tags": [f"tag{i % 50}", "bench"],
            "case_id": f"CASE-{i % 200}", "note": None, "options": {}, "added_by": "bench",
            "added_at": t0 + timedelta(seconds=i), "active": i % 10 != 0, "removed_at": None,
            "last_capture_at": t0, "last_status": ("complete", "partial", "failed")[i % 3],
            "next_due_at": t0 + timedelta(days=1),
        }
        for i in range(sources)
    ]
    cap_rows, art_rows, hash_rows, seal_rows = [], [], [], []
    for n in range(captures):
        s = src_rows[rnd.randrange(sources)]
        cid = uuid7()
        started = t0 + timedelta(seconds=30 * n)
        cap_rows.append({
            "id": cid, "source_id": s["id"], "source_url": s["url"], "kind": s["kind"],
            "case_id": s["case_id"], "started_at": started,
            "finished_at": started + timedelta(seconds=5),
            "status": "failed" if n % 17 == 0 else ("partial" if n % 23 == 0 else "complete"),
            "reasons": ["http-404: Not Found"] if n % 17 == 0 else [], "collector": s["kind"],
            "collector_version": "1", "manifest_key": f"captures/{s['id']}/{cid}/manifest.json",
            "manifest_sha256": "0" * 64, "previous_capture_id": None,
            "run_context": {"via": "airflow", "dag_id": f"witnessbox_{s['kind']}",
                            "run_id": "scheduled__2026", "task_id": "capture", "map_index": 0,
                            "try_number": 1},
            "indexed_at": started,
        })
        for name, role in (("capture.warc.gz", "warc"), ("screenshot.png", "screenshot"),
                           ("page.html", "dom")):
            sha = f"{rnd.getrandbits(256):064x}"
            art_rows.append({
                "capture_id": cid, "name": name, "role": role, "media_type": "image/png",
                "size": 1000, "sha256": sha, "sha512": "0" * 128, "md5": "0" * 32,
                "derived_from": None, "summary": {"PNG:ImageWidth": 1280},
            })
            if role == "screenshot":
                value = rnd.getrandbits(64)
                hash_rows.append({"sha256": sha, "algorithm": "phash", "bits": 64,
                                  "value": f"{value:016x}", "prefix": value >> 48, "frame": None,
                                  "quality": None, "library": "imagehash"})
        if n % 2 == 0:
            seal_rows.append({"capture_id": cid, "batch_id": "b1", "leaf_index": n,
                              "proof_key": "seals/b1/p"})
    with rt.catalogue.session.begin() as session:
        for model, rows in ((Source, src_rows), (Capture, cap_rows), (Artifact, art_rows),
                            (PerceptualHash, hash_rows), (SealedCapture, seal_rows)):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start:start + 5000])
        session.add(LedgerEntry(seq=1, at=t0, event="audited", subject="audit:all", actor="bench",
                                data={}, prev_hash="0" * 64, entry_hash="1" * 64))
        for k in range(20):
            session.add(AuditResult(started_at=t0, finished_at=t0, scope="sample:200", checked=200,
                                    failed=k % 3, details=[f"digest-mismatch: blobs/x{k}"] * (k % 3)))
    last = cap_rows[-1]
    rt.store.put_bytes(last["manifest_key"], json.dumps({"capture": {"run": last["run_context"]},
                                                         "tools": {}, "source": {}}).encode())
    (home / "detail.txt").write_text(last["id"])
    rt.close()


def client_for(home: Path):
    from fastapi.testclient import TestClient
    from witnessbox_airflow.ui import data
    from witnessbox_airflow.ui.app import app
    from witnessbox_airflow.ui.auth import User, current_user

    from kernel.settings import load_settings
    from preservation.runtime import open_runtime

    rt = open_runtime(load_settings({"WITNESSBOX_HOME": str(home)}))
    data.runtime = lambda: rt  # the pages' one door to the catalogue and store
    app.dependency_overrides[current_user] = lambda: User("bench", "admin", "bench-token")
    return TestClient(app), (home / "detail.txt").read_text().strip(), rt


def pages(detail: str) -> dict[str, str]:
    return {
        "watchlist": "/watchlist",
        "watchlist ?tag&state": "/watchlist?tag=tag7&state=active",
        "watchlist page 50": "/watchlist?offset=5000",
        "captures": "/captures",
        "captures ?status=failed": "/captures?status=failed",
        "captures ?case&since": "/captures?case=CASE-3&since=2026-01-10",
        "capture detail": f"/captures/{detail}",
        "audit": "/audit",
    }


def measure(home: Path, rounds: int) -> dict[str, float]:
    client, detail, rt = client_for(home)
    out = {}
    for name, path in pages(detail).items():
        assert client.get(path).status_code == 200, path  # warm-up, and it must work
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        out[name] = statistics.median(times)
    rt.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--captures", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sizes = {"small": (100, 1_000), "large": (args.sources, args.captures)}
    results = {}
    for label, (n_sources, n_captures) in sizes.items():
        home = WORK / f"{n_sources}-{n_captures}"
        if not (home / "detail.txt").is_file():
            print(f"building {label} catalogue: {n_sources} sources, {n_captures} captures...",
                  flush=True)
            start = time.perf_counter()
            build(home, n_sources, n_captures)
            print(f"  built in {time.perf_counter() - start:.1f} s", flush=True)
        results[label] = measure(home, args.rounds)
    print(f"\n{'page':28} {'small ms':>9} {'large ms':>9} {'ratio':>6}")
    worst = 0.0
    for name in results["small"]:
        small, large = results["small"][name], results["large"][name]
        worst = max(worst, large)
        print(f"{name:28} {small:9.1f} {large:9.1f} {large / small:6.2f}")
    verdict = "PASS" if worst < TARGET_MS else "FAIL"
    print(f"\n{verdict}: slowest page {worst:.1f} ms at {args.sources} sources / {args.captures} "
          f"captures (target < {TARGET_MS:.0f} ms)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
