"""Many workers, one archive: four `witnessbox run` processes started together over 40 due
sources capture each source exactly once, on one home or four (as four hosts would be), on
PostgreSQL with the file store and with S3, and the ledger and every capture verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kernel.netpolicy import NetworkPolicy
from kernel.settings import load_settings
from preservation.catalogue import leases, watchlist
from preservation.catalogue.models import Capture, Catalogue, LedgerEntry, Source
from preservation.runtime import open_runtime

ROOT = Path(__file__).resolve().parents[2]
SOURCES = 40
WORKERS = 4
WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.support.fake_collector import EchoCollector
    from preservation.cli.main import main

    EchoCollector.install()
    go = Path(sys.argv[1])
    Path(str(go) + "." + sys.argv[2]).touch()  # imported and ready
    while not go.exists():
        time.sleep(0.005)
    sys.exit(main(["run", "--json"]))
    """
)


def start_together(envs: list[dict[str, str]], tmp_path: Path) -> list[subprocess.CompletedProcess]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(n)],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n, env in enumerate(envs)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    go.touch()  # all four start claiming at once
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def witnessbox(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "preservation.cli.main", *argv],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("catalogue", "store", "homes"),
    [
        ("postgresql", "file", 1),
        ("postgresql", "file", WORKERS),
        ("postgresql", "s3", 1),
        ("postgresql", "s3", WORKERS),
        ("sqlite", "file", 1),
    ],
    ids=["pg-file-one-home", "pg-file-four-hosts", "pg-s3-one-home", "pg-s3-four-hosts",
         "sqlite-file-one-home"],
)
def test_four_workers_capture_each_due_source_once(tmp_path, request, catalogue, store, homes):
    shared = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSBOX_")}
    shared["WITNESSBOX_OPERATOR"] = "test-operator"
    if catalogue == "postgresql":
        shared["WITNESSBOX_CATALOGUE"] = request.getfixturevalue("postgres").new_database()
    else:
        shared["WITNESSBOX_CATALOGUE"] = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    if store == "s3":
        s3 = request.getfixturevalue("seaweedfs")
        shared.update(
            WITNESSBOX_STORE=f"s3://{s3.make_bucket(object_lock=True)}/archive",
            WITNESSBOX_S3_ENDPOINT=s3.endpoint, WITNESSBOX_S3_ACCESS_KEY=s3.access_key,
            WITNESSBOX_S3_SECRET_KEY=s3.secret_key, WITNESSBOX_S3_SECURE="0",
            WITNESSBOX_RETENTION_DAYS="1",
        )
    else:
        shared["WITNESSBOX_STORE"] = f"file://{tmp_path / 'store'}"
    envs = [{**shared, "WITNESSBOX_HOME": str(tmp_path / f"host{n % homes}")}
            for n in range(WORKERS)]
    for env in envs[:homes]:  # each host initialises its home (and its own signing key)
        assert witnessbox(env, "init").returncode == 0
    rt = open_runtime(load_settings(envs[0]))
    try:
        for n in range(SOURCES):
            spec = watchlist.validate_entry(f"https://example.org/page-{n}", NetworkPolicy())
            watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())
    finally:
        rt.close()

    results = start_together(envs, tmp_path)

    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "error" not in result.stderr, result.stderr
    ran = [len(json.loads(r.stdout)["captures"]) for r in results]
    assert sum(ran) == SOURCES
    catalogue_ = Catalogue.open(shared["WITNESSBOX_CATALOGUE"])
    try:
        with catalogue_.session() as s:
            per_source = dict(
                s.execute(select(Capture.source_id, func.count()).group_by(Capture.source_id)).all()
            )
            seqs = sorted(s.scalars(select(LedgerEntry.seq)))
            leased = s.scalar(select(func.count()).where(Source.lease_owner.is_not(None)))
    finally:
        catalogue_.close()
    assert len(per_source) == SOURCES and set(per_source.values()) == {1}
    assert seqs == list(range(1, 2 * SOURCES + 1))  # captured + stored each, no fork, no gap
    assert leased == 0  # every lease was given back
    for env in envs[:homes]:
        ledger = witnessbox(env, "ledger", "verify")
        assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    verify = witnessbox(envs[0], "verify", "--all", "--json")
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr
    assert json.loads(verify.stdout)["checked"]["captures"] == SOURCES
    again = witnessbox(envs[-1], "run", "--json")  # nothing is due any more
    assert again.returncode == 0 and json.loads(again.stdout)["captures"] == []


def _source(catalogue: Catalogue, now: datetime) -> str:
    spec = watchlist.validate_entry("https://example.org/leased", NetworkPolicy())
    return watchlist.add_source(catalogue, spec, "analyst", now).id


def test_a_claim_is_won_once_and_a_dead_workers_lease_expires(catalogue_url):
    catalogue = Catalogue.open(catalogue_url)
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    try:
        sid = _source(catalogue, now)
        assert leases.claim(catalogue, "a", now, 60) == sid
        assert leases.claim(catalogue, "b", now, 60) is None  # held: lost quietly
        assert leases.claim(catalogue, "b", now, 60, source_id=sid, require_due=False) is None
        assert not leases.renew(catalogue, sid, "b", now, 60)  # not b's to renew
        assert leases.renew(catalogue, sid, "a", now + timedelta(seconds=50), 60)
        assert leases.claim(catalogue, "b", now + timedelta(seconds=100), 60) is None
        # worker a dies without releasing: once its lease runs out the source is due again
        later = now + timedelta(seconds=111)
        assert leases.claim(catalogue, "b", later, 60) == sid
        leases.release(catalogue, sid, "a")  # a late release by the dead worker changes nothing
        assert leases.claim(catalogue, "c", later, 60) is None
        leases.release(catalogue, sid, "b")
        assert leases.claim(catalogue, "c", later, 60) == sid
    finally:
        catalogue.close()


def test_a_source_captured_meanwhile_is_no_longer_due(catalogue_url):
    catalogue = Catalogue.open(catalogue_url)
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    try:
        sid = _source(catalogue, now)
        with catalogue.session.begin() as s:  # another worker captured it after we listed it
            s.get(Source, sid).next_due_at = now + timedelta(hours=6)
        assert leases.claim(catalogue, "a", now, 60, source_id=sid) is None
        assert leases.claim(catalogue, "a", now, 60, source_id=sid, require_due=False) == sid
    finally:
        catalogue.close()


def test_a_live_worker_keeps_renewing_its_lease_and_gives_it_back(catalogue_url):
    catalogue = Catalogue.open(catalogue_url)
    try:
        sid = _source(catalogue, datetime.now(UTC))
        assert leases.claim(catalogue, "a", datetime.now(UTC), 1) == sid
        with leases.Heartbeat(catalogue, sid, "a", 1, lambda: datetime.now(UTC)) as beat:
            time.sleep(2.5)  # more than twice the lease: only renewals keep it
            assert leases.claim(catalogue, "b", datetime.now(UTC), 1) is None
            assert not beat.lost
        with catalogue.session() as s:
            assert s.get(Source, sid).lease_owner is None  # released on the way out
        assert leases.claim(catalogue, "b", datetime.now(UTC), 1) == sid
    finally:
        catalogue.close()
