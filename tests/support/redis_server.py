"""A real Redis for tests: Debian's ``redis-server`` on 127.0.0.1, a free port, a password.

Installed by ``scripts/ensure-system.sh`` when missing; without it the test fails with one
line saying so. Nothing is persisted (no RDB, no AOF): the server's directory is the test's.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class RedisServer:
    port: int
    password: str
    proc: subprocess.Popen

    def url(self, db: int = 0, password: str | None = None) -> str:
        return f"redis://:{self.password if password is None else password}@127.0.0.1:{self.port}/{db}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int, password: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            got = b""
            while b"\n" not in got.partition(b"\n")[2]:  # two replies: +OK, +PONG
                chunk = sock.recv(64)
                if not chunk:
                    break
                got += chunk
            return b"+PONG" in got
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(directory: Path, timeout: float = 20) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test` (scripts/ensure-system.sh "
                    "installs Debian's redis-server)", pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    port = _free_port()
    conf = directory / "redis.conf"  # the password in a file, not on a command line
    conf.write_text(f"bind 127.0.0.1\nport {port}\nrequirepass {password}\nprotected-mode yes\n"
                    f"save \"\"\nappendonly no\ndir {directory}\ndaemonize no\n")
    conf.chmod(0o600)
    log = open(directory / "redis.log", "ab")
    proc = subprocess.Popen([binary, str(conf)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(port, password):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (directory / "redis.log").read_text(errors="replace")[-1000:]
                pytest.fail(f"redis-server did not start: {tail}", pytrace=False)
            time.sleep(0.1)
        yield RedisServer(port, password, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
