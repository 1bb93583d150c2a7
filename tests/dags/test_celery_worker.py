"""The Celery worker launcher: a broken broker is one line and exit 2; queues per worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from witnessbox_airflow.celery_worker import advertised_hostname, default_queues, redact
from witnessbox_airflow.kinds import queue_for

from tests.support.redis_server import redis_server

ROOT = Path(__file__).resolve().parents[2]


def launch(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CELERY__")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "witnessbox_airflow.celery_worker", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


def test_a_missing_redis_is_one_line_and_exit_2():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    line = one_line_error(launch({"AIRFLOW__CELERY__BROKER_URL": f"redis://:s3cret@127.0.0.1:{port}/0"}))
    assert f"redis://:***@127.0.0.1:{port}/0 is unreachable" in line
    assert "s3cret" not in line


def test_no_broker_configured_is_one_line():
    line = one_line_error(launch({}))
    assert "AIRFLOW__CELERY__BROKER_URL" in line


def test_a_non_redis_broker_is_refused_plainly():
    line = one_line_error(launch({"AIRFLOW__CELERY__BROKER_URL": "amqp://guest:pw@127.0.0.1:5672//"}))
    assert "unsupported Celery broker amqp://guest:***@127.0.0.1:5672//" in line


def test_a_wrong_or_missing_password_is_one_line(tmp_path):
    with redis_server(tmp_path / "redis") as redis:
        wrong = one_line_error(launch({"AIRFLOW__CELERY__BROKER_URL": redis.url(password="nope")}))
        assert "refused the password" in wrong and "nope" not in wrong
        none = one_line_error(launch({"AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis.port}/0"}))
        assert "needs a password" in none


def test_telegram_queue_only_on_workers_with_the_session():
    assert default_queues({}) == ["default", "witnessbox_web", "witnessbox_video"]
    with_session = default_queues({"WITNESSBOX_TELEGRAM_SESSION": "1Abc"})
    assert with_session == ["default", "witnessbox_web", "witnessbox_video", "witnessbox_telegram"]
    custom = default_queues({"WITNESSBOX_QUEUE_WEB": "browsers", "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "q"})
    assert custom == ["q", "browsers", "witnessbox_video"]


def test_queue_per_kind_is_configurable():
    assert queue_for("telegram", {}) == "witnessbox_telegram"
    assert queue_for("video", {"WITNESSBOX_QUEUE_VIDEO": "gpu-hosts"}) == "gpu-hosts"


def test_redact_and_advertised_hostname(monkeypatch):
    assert redact("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact("redis://h:1/0") == "redis://h:1/0"
    monkeypatch.setenv("WITNESSBOX_WORKER_ADDRESS", "127.0.0.3")
    assert advertised_hostname() == "127.0.0.3"
    monkeypatch.delenv("WITNESSBOX_WORKER_ADDRESS")
    assert advertised_hostname() == socket.getfqdn()


QUEUES = textwrap.dedent(
    """
    import json
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={dags!r})
    print(json.dumps({k: {t.task_id: t.queue for t in bag.dags[f"witnessbox_{k}"].tasks}
                      for k in ("web", "video", "telegram")}))
    """
)


@pytest.mark.slow
def test_the_dag_factory_routes_captures_to_their_kinds_queue(airflow_env):
    env = {**airflow_env, "WITNESSBOX_QUEUE_VIDEO": "video-hosts"}
    proc = subprocess.run([sys.executable, "-c", QUEUES.replace("{dags!r}", repr(str(ROOT / "dags")))],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    queues = json.loads(proc.stdout.strip().splitlines()[-1])
    assert queues["web"]["capture"] == "witnessbox_web"
    assert queues["video"]["capture"] == "video-hosts"
    assert queues["telegram"]["capture"] == "witnessbox_telegram"
    assert queues["web"]["due_sources"] == queues["telegram"]["record"] == "default"
