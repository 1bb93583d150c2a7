"""Real Airflow parts on loopback: healthy, pools created, nothing listening beyond 127.0.0.1, clean stop."""

from __future__ import annotations

import json
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


@pytest.mark.slow
def test_make_airflow_prints_the_passwords_once_and_stops_on_ctrl_c(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import time

    from tests.support.airflow_service import free_port

    port = free_port()
    env = {**os.environ, "AIRFLOW_PORT": str(port), "AIRFLOW_HOME": str(tmp_path / "af"),
           "WITNESSBOX_HOME": str(tmp_path / "wb")}
    proc = subprocess.Popen([sys.executable, "-m", "witnessbox_airflow.launch"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("logs:"):
                break
        out = "".join(lines)
        assert f"Airflow is up: http://127.0.0.1:{port}/" in out, out
        assert f"replays open on http://localhost:{port} (its own origin" in out, out
        shown = dict(re.findall(r"^  (\w+)\s+role \w+\s+password (\S+)$", out, re.M))
        stored = json.loads((tmp_path / "af" / "passwords.json").read_text())
        assert set(shown) == {"admin", "operator", "analyst"} and shown == stored
        assert (tmp_path / "af" / "passwords.json").stat().st_mode & 0o077 == 0
        assert not any((tmp_path / "af" / "plugins").iterdir()), "the plugin comes from its entry point"
        groups = [p.pid for p in psutil.Process(proc.pid).children()]
        assert len(groups) == 4
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's group
        rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0 and "stopped." in rest
    for pgid in groups:
        assert not [p for p in _group(pgid) if p.status() != psutil.STATUS_ZOMBIE]
