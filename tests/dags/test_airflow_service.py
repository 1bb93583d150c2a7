"""Real Airflow parts on loopback: healthy, pools created, nothing listening beyond 127.0.0.1, clean stop."""

from __future__ import annotations

import os

import psutil
import pytest

from tests.support.airflow_service import running_airflow


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


@pytest.mark.slow
def test_parts_listen_on_loopback_only_and_stop_cleanly(tmp_path):
    with running_airflow(tmp_path / "airflow", extra={"WITNESSBOX_HOME": str(tmp_path / "wb")}) as af:
        groups = {name: proc.pid for name, proc in af.procs.items()}
        assert set(groups) == {"api-server", "scheduler", "dag-processor", "triggerer"}
        pools = {p["name"]: p["slots"] for p in af.api("pools")["pools"]}
        assert pools["witnessbox_web"] == 2 and pools["witnessbox_telegram"] == 1
        listening = []
        for pgid in groups.values():
            for proc in _group(pgid):
                try:
                    conns = proc.net_connections(kind="inet")
                except psutil.Error:
                    continue
                listening += [c.laddr for c in conns if c.status == psutil.CONN_LISTEN]
        assert listening, "the api-server listens somewhere"
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
        assert af.port in {addr.port for addr in listening}
    for name, pgid in groups.items():
        assert not [p for p in _group(pgid) if p.status() != psutil.STATUS_ZOMBIE], f"{name} left processes"
