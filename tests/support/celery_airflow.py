"""Airflow with the CeleryExecutor on loopback for tests: Redis broker, PostgreSQL metadata.

Extends ``tests.support.airflow_service``: the same parts (api-server, scheduler,
dag-processor) plus any number of Celery workers, each started through
``python -m witnessbox_airflow.celery_worker`` on its own loopback address (127.0.0.2,
127.0.0.3, ...), which its task instances record as their hostname and on which its log
server listens. Workers are stopped with the other parts (SIGINT to their process group).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from witnessbox_airflow.local_service import ROLE_USERS, ensure_passwords, prepare

from tests.support.airflow_service import TestAirflow, build_env, free_port


@dataclass(frozen=True)
class Worker:
    name: str
    address: str  # a loopback address of its own: its hostname in task instances
    queues: str | None = None  # comma-separated; None: what the launcher picks
    concurrency: int = 1


def celery_env(broker_url: str, metadata_url: str) -> dict[str, str]:
    """CeleryExecutor settings: Redis broker, results and metadata in PostgreSQL."""
    sql = make_url(metadata_url).render_as_string(hide_password=False)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sql}",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }


class CeleryAirflow(TestAirflow):
    def start_worker(self, worker: Worker) -> None:
        component = f"worker-{worker.name}"
        command = [sys.executable, "-m", "witnessbox_airflow.celery_worker", "--name",
                   worker.name, "--address", worker.address, "--concurrency",
                   str(worker.concurrency)]
        if worker.queues:
            command += ["--queues", worker.queues]
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        out = open(self.log_path(component), "ab")  # closed in stop()
        self.logs[component] = out
        self.procs[component] = subprocess.Popen(
            command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def wait_workers(self, timeout: float = 180) -> None:
        """Until every started worker's Celery says it is ready."""
        deadline = time.monotonic() + timeout
        waiting = [n for n in self.procs if n.startswith("worker-")]
        while waiting:
            for name in list(waiting):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}): {self.tail(name)}")
                if " ready." in self.log_path(name).read_text(errors="replace"):
                    waiting.remove(name)
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers not ready after {timeout:.0f} s: {waiting}; "
                                   f"{self.tail(waiting[0])}")
            time.sleep(1)


@contextlib.contextmanager
def running_celery_airflow(
    home: Path,
    broker_url: str,
    metadata_url: str,
    workers: list[Worker],
    extra: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> Iterator[CeleryAirflow]:
    """Migrate, start api-server, scheduler, dag-processor and the workers; always stop."""
    port = free_port()
    env = build_env(home, port, {**celery_env(broker_url, metadata_url), **(extra or {})})
    prepare(env)
    service = CeleryAirflow(env, port)
    service.passwords = {**ensure_passwords(home, ROLE_USERS)}
    try:
        service.start(["api-server", "scheduler", "dag-processor"])
        for worker in workers:
            service.start_worker(worker)
        service.wait_ready(timeout)
        service.wait_workers(timeout)
        yield service
    finally:
        service.stop()
