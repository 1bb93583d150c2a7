"""A real PostgreSQL for tests: a throwaway cluster on 127.0.0.1, one per test session.

``initdb`` + ``pg_ctl`` from Debian's ``postgresql`` package (installed by
``scripts/ensure-system.sh``), run as the ``postgres`` user when the tests run as root
(PostgreSQL refuses to run as root). Password authentication is on (scram-sha-256), so a
wrong password fails as it would in production. Each test gets a fresh database copied from
a template that the migrations already brought to head, so a test pays a ``CREATE DATABASE``,
not a migration. The cluster lives in a private temporary directory removed at the end; a
watchdog process stops it when the test process dies, even by SIGKILL, so none is left.

``WITNESSBOX_TEST_POSTGRES_URL`` (an admin URL such as
``postgresql+psycopg2://user:pw@host:5432/postgres``) uses an existing server instead.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "witnessbox"
PASSWORD = "test-pg-6d1e0b3a"  # a throwaway credential for a loopback cluster
TEMPLATE = "witnessbox_template"
START_TIMEOUT = 60


def find_bin(name: str) -> str | None:
    """A PostgreSQL server binary: Debian keeps them in /usr/lib/postgresql/N/bin."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    return found[-1] if found else shutil.which(name)


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Postgres:
    """A running server: URLs for fresh databases, and an admin connection to make them."""

    admin_url: str  # a URL to the maintenance database, as a superuser
    base: Path | None = None  # the throwaway cluster's directory, when we started one
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str, password: str | None = None) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(database=database)
        if password is not None:
            url = url.set(password=password)
        return url.render_as_string(hide_password=False)

    def _admin(self, *statements: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()

    def prepare_template(self) -> None:
        """A database migrated to head, copied for every test (migrations run once here)."""
        from preservation.catalogue.models import Catalogue

        self._admin(f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
        Catalogue.open(self.url(TEMPLATE)).close()

    def new_database(self, migrated: bool = True) -> str:
        """The URL of a new, empty database (schema at head unless ``migrated`` is false)."""
        name = f"wb_{next(self._counter)}_{uuid.uuid4().hex[:8]}"
        template = f" TEMPLATE {TEMPLATE}" if migrated else ""
        self._admin(f"CREATE DATABASE {name}{template}")
        return self.url(name)


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run its tools as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(_as_postgres(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"PostgreSQL {what} failed: {result.stderr.strip() or result.stdout.strip()}",
                    pytrace=False)


def start() -> Postgres:
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("PostgreSQL is not installed: run `make test` (scripts/ensure-system.sh "
                    "installs Debian's postgresql)", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="witnessbox-pg-"))  # 0700; not under pytest's root dir
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    pwfile = base / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    pwfile.chmod(0o600)
    data = base / "data"
    _run([initdb, "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
          "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
    for attempt in range(3):  # a port can be taken between picking and binding it
        port = _free_port()
        options = (f"-k {base} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        result = subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-w",
                          "-t", str(START_TIMEOUT), "-o", options, "start"]),
            capture_output=True, text=True, check=False,
        )
        if result.returncode == 0:
            _watch(base)
            server = Postgres(
                f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres", base
            )
            server.prepare_template()
            return server
        time.sleep(0.2 * (attempt + 1))
    log = (base / "server.log").read_text(errors="replace")[-2000:]
    stop_cluster(base)
    pytest.fail(f"PostgreSQL did not start:\n{log}", pytrace=False)


WATCHDOG = """
import os, sys, time
from tests.support.postgres import stop_cluster
parent, base = int(sys.argv[1]), sys.argv[2]
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    if not os.path.isdir(base):
        sys.exit(0)
    time.sleep(1)
from pathlib import Path
stop_cluster(Path(base))
"""


def _watch(base: Path) -> None:
    """Stop the cluster when this process dies, however it dies (a killed test run too)."""
    root = Path(__file__).resolve().parents[2]
    subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(base)],
        cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )


def stop_cluster(base: Path) -> None:
    pg_ctl = find_bin("pg_ctl")
    if pg_ctl and (base / "data" / "postmaster.pid").exists():
        subprocess.run(_as_postgres([pg_ctl, "-D", str(base / "data"), "-m", "immediate",
                                     "-w", "stop"]), capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the whole test session (started on first use)."""
    external = os.environ.get("WITNESSBOX_TEST_POSTGRES_URL")
    if external:
        server = Postgres(external)
        server.prepare_template()
        yield server
        return
    server = start()
    try:
        yield server
    finally:
        assert server.base is not None
        stop_cluster(server.base)
