"""Real Airflow processes on loopback for tests: env builder, start(components), wait_ready, stop.

A thin test-side face of ``witnessbox_airflow.local_service`` (what ``make airflow`` runs):
``airflow_service(tmp, ...)`` prepares a home on a free port, and the returned service
starts the parts named (``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``; a
Celery worker can be added to ``COMPONENTS``), waits until they are healthy and stops
them with SIGINT to each process group.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from witnessbox_airflow.local_service import (
    COMPONENTS,
    DEFAULT_COMPONENTS,
    ROLE_USERS,
    AirflowService,
    airflow_env,
    ensure_passwords,
    prepare,
)

ROOT = Path(__file__).resolve().parents[2]
__all__ = [
    "COMPONENTS",
    "DEFAULT_COMPONENTS",
    "AirflowService",
    "TestAirflow",
    "build_env",
    "free_port",
    "running_airflow",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_env(
    home: Path,
    port: int,
    extra: Mapping[str, str] | None = None,
    users: Mapping[str, str] = ROLE_USERS,
) -> dict[str, str]:
    """The env every part shares, with the repo's DAGs and ``WITNESSBOX_*`` from ``extra``."""
    env = airflow_env(home, port, dags_folder=ROOT / "dags", users=users, extra=extra)
    env["PYTHONPATH"] = str(ROOT)  # tests.support.* for fake collectors and notifiers
    return env


class TestAirflow(AirflowService):
    """An AirflowService plus what tests ask of it: passwords, tokens, REST calls."""

    passwords: dict[str, str]

    def token(self, user: str) -> str:
        body = json.dumps({"username": user, "password": self.passwords[user]}).encode()
        request = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())["access_token"]

    def api(self, path: str, user: str = "admin", method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/api/v2/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token(user)}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 180) -> None:
        """Until the dag-processor has parsed (serialised) every DAG named."""
        wanted, deadline, seen = set(dag_ids), time.monotonic() + timeout, set()
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                seen = {d["dag_id"] for d in self.api("dags?limit=100")["dags"]}
                if wanted <= seen:
                    return
            time.sleep(2)
        raise TimeoutError(
            f"DAGs not parsed after {timeout:.0f} s: missing {wanted - seen}; "
            f"{self.tail('dag-processor')}"
        )


@contextlib.contextmanager
def running_airflow(
    home: Path,
    extra: Mapping[str, str] | None = None,
    components: Iterable[str] = DEFAULT_COMPONENTS,
    timeout: float = 240,
    port: int | None = None,
) -> Iterator[TestAirflow]:
    """Prepare a home, start the parts, yield once healthy, always stop them."""
    port = port or free_port()
    env = build_env(home, port, extra)
    prepare(env)
    service = TestAirflow(env, port)
    service.passwords = {**ensure_passwords(home, ROLE_USERS)}
    try:
        service.start(components)
        service.wait_ready(timeout)
        yield service
    finally:
        service.stop()
