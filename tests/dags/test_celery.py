"""A real distributed engine: Airflow's CeleryExecutor, Redis, PostgreSQL, two workers.

Twenty local web pages are captured by ``witnessbox_web`` (real Chromium), the capture
tasks spread over two ``airflow celery worker`` processes with their own hostnames, and
every capture verifies. Nothing of it listens beyond loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from tests.support.celery_airflow import Worker, running_celery_airflow
from tests.support.redis_server import redis_server
from tests.support.web_site import start_site

SOURCES = 20
WITNESSBOX = str(Path(sys.executable).with_name("witnessbox"))


def witnessbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WITNESSBOX, *args], env=env, capture_output=True, text=True, timeout=300)


def _in_groups(proc: psutil.Process, pgids: list[int]) -> bool:
    try:
        return os.getpgid(proc.pid) in pgids
    except (ProcessLookupError, psutil.Error):
        return False


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def listening(pgids: list[int]) -> set[str]:
    found = set()
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in pgids:
                found |= {c.laddr.ip for c in proc.net_connections(kind="inet")
                          if c.status == psutil.CONN_LISTEN}
        except (ProcessLookupError, psutil.Error):
            continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_two_celery_workers_share_the_web_captures_and_every_capture_verifies(tmp_path, postgres):
    site = start_site()
    try:
        with redis_server(tmp_path / "redis") as redis:
            metadata = postgres.new_database(migrated=False)
            wb = {"WITNESSBOX_HOME": str(tmp_path / "wb"), "WITNESSBOX_CATALOGUE": postgres.new_database(),
                  "WITNESSBOX_ALLOW_PRIVATE_NETWORKS": "1", "WITNESSBOX_OPERATOR": "celery-test"}
            env = {**os.environ, **wb}
            assert witnessbox(env, "init").returncode == 0
            rows = [{"url": site.url(f"/pages/{n}.html"), "kind": "web"} for n in range(SOURCES)]
            (tmp_path / "sources.json").write_text(json.dumps(rows))
            done = witnessbox(env, "watch", "import", str(tmp_path / "sources.json"))
            assert done.returncode == 0, done.stderr
            workers = [Worker("alpha", "127.0.0.2"), Worker("beta", "127.0.0.3")]
            extra = {**wb, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
            with running_celery_airflow(tmp_path / "airflow", redis.url(), metadata, workers,
                                        extra=extra) as af:
                af.wait_dags(["witnessbox_web"])
                run = af.api("dags/witnessbox_web/dagRuns", method="POST", body={"logical_date": None})
                af.api("dags/witnessbox_web", method="PATCH", body={"is_paused": False})
                # unpausing also lets the scheduler start the tick's own run: whichever run
                # comes first captures the sources, the other finds nothing due
                deadline = time.monotonic() + 900
                while True:
                    runs = af.api("dags/witnessbox_web/dagRuns?limit=100")["dag_runs"]
                    states = {r["dag_run_id"]: r["state"] for r in runs}
                    if states.get(run["dag_run_id"]) in ("success", "failed") and not (
                        {"queued", "running"} & set(states.values())
                    ):
                        break
                    assert time.monotonic() < deadline, f"runs {states}: {af.tail('worker-alpha')}"
                    time.sleep(5)
                assert set(states.values()) == {"success"}, states
                tis = af.api("dags/witnessbox_web/dagRuns/~/taskInstances?task_id=capture&limit=100")
                mapped = [ti for ti in tis["task_instances"] if ti["map_index"] >= 0]
                # the scheduler's own run and the triggered one both map the due sources; the
                # run that loses a source's lease skips it (each source is captured once)
                captures = [ti for ti in mapped if ti["state"] != "skipped"]
                assert len(captures) == SOURCES, [(t["dag_run_id"], t["map_index"], t["state"]) for t in mapped]
                assert {ti["state"] for ti in captures} == {"success"}
                assert {ti["queue"] for ti in captures} == {"witnessbox_web"}
                hosts = Counter(ti["hostname"] for ti in captures)
                print("capture tasks per worker host:", dict(hosts))
                assert set(hosts) == {"127.0.0.2", "127.0.0.3"}, hosts  # both workers captured
                pgids = [p.pid for p in af.procs.values()]
                assert listening(pgids) <= {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
            left = [p for p in psutil.process_iter() if _in_groups(p, pgids) and _alive(p)]
            assert not left, f"the parts left processes behind: {left}"
        listed = json.loads(witnessbox(env, "captures", "--json", "--limit", "100").stdout)
        assert len(listed) == SOURCES
        assert sorted(c["source_id"] for c in listed) == sorted(set(c["source_id"] for c in listed))
        assert {c["status"] for c in listed} == {"complete"}, Counter(c["status"] for c in listed)
        verified = witnessbox(env, "verify", "--all")
        assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
        assert "Traceback" not in verified.stderr
    finally:
        site.close()
