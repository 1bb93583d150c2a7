"""A catalogue that cannot work (server down, wrong password, no such database, no driver)
ends in one clear line and a non-zero exit, never a traceback, and never shows the password."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from preservation.catalogue.connect import normalise
from tests.support.postgres import Postgres

SECRET = "hunter2-not-the-password"


def witnessbox(tmp_path, catalogue: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WITNESSBOX_HOME": str(tmp_path / "home"), "WITNESSBOX_CATALOGUE": catalogue}
    return subprocess.run(
        [sys.executable, "-m", "preservation.cli.main", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when we return: nothing listens there


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert SECRET not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


@pytest.mark.parametrize("argv", [["captures"], ["run"], ["watch", "list"], ["verify", "--all"]])
def test_an_unreachable_server_is_one_line(tmp_path, argv):
    port = closed_port()
    result = witnessbox(tmp_path, f"postgresql+psycopg2://wb:{SECRET}@127.0.0.1:{port}/wb", *argv)
    assert_one_line(result, f"postgresql 127.0.0.1:{port}/wb", "Connection refused")


def test_a_wrong_password_is_one_line(tmp_path, postgres: Postgres):
    url = postgres.url(postgres.new_database().rsplit("/", 1)[1], password=SECRET)
    result = witnessbox(tmp_path, url, "captures")
    assert_one_line(result, "cannot open catalogue postgresql", "password authentication failed")


def test_a_missing_database_is_one_line(tmp_path, postgres: Postgres):
    result = witnessbox(tmp_path, postgres.url("no_such_database"), "watch", "list")
    assert_one_line(result, 'database "no_such_database" does not exist')


def test_an_unknown_driver_is_one_line(tmp_path):
    result = witnessbox(tmp_path, f"mysql://wb:{SECRET}@127.0.0.1:1/wb", "captures")
    assert_one_line(result, "cannot use catalogue mysql 127.0.0.1:1/wb")


def test_a_plain_postgresql_url_uses_the_installed_driver(tmp_path, postgres: Postgres):
    url = postgres.new_database().replace("postgresql+psycopg2://", "postgresql://")
    assert normalise(url).startswith("postgresql+psycopg2://")
    result = witnessbox(tmp_path, url, "captures")
    assert result.returncode == 0, result.stderr


def _empty_catalogue(backend: str, tmp_path: Path, request) -> str:
    """The URL of an empty catalogue (no schema) on ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite'}"
    return request.getfixturevalue("postgres").new_database(migrated=False)


def _alembic_config():
    from alembic.config import Config

    from preservation.catalogue.models import migrate

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__code__.co_filename).parent / "migrations"))
    return config


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_run_from_empty_to_head_on_both(tmp_path, backend, request):
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from preservation.catalogue.models import Base, Catalogue, migrate
    from tests.support.catalogue_sql import sql

    url = _empty_catalogue(backend, tmp_path, request)
    catalogue = Catalogue.open(url)
    try:
        migrate(catalogue.engine)  # a second upgrade is a no-op
        tables = set(inspect(catalogue.engine).get_table_names())
    finally:
        catalogue.close()
    assert set(Base.metadata.tables) <= tables
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert sql(url, "select version_num from alembic_version") == [(head,)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_indexes_what_existing_entries_name(tmp_path, backend, request):
    from alembic import command

    from preservation.catalogue.ledger_index import entries_about
    from preservation.catalogue.models import Catalogue, make_engine, migrate
    from tests.support.catalogue_sql import sql

    url = _empty_catalogue(backend, tmp_path, request)
    engine = make_engine(url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "operate01")  # the schema before the mentions table
    for seq, subject, data in [(1, "c-1", {}), (2, "seals/b/seal.json",
                               {"captures": ["c-1", "c-2"], "batch": "b"})]:  # fmt: skip
        sql(url, "insert into ledger (seq, at, event, subject, actor, data, prev_hash, "
            "entry_hash) values (:seq, '2026-12-03 00:00:00', 'x', :subject, 't', :data, "
            ":prev, :hash)", seq=seq, subject=subject, data=json.dumps(data), prev="0" * 64,
            hash=f"{seq:064x}")  # fmt: skip
    migrate(engine)
    engine.dispose()
    assert sorted(sql(url, "select name, seq from ledger_mentions")) == [
        ("b", 2), ("c-1", 2), ("c-2", 2)]  # fmt: skip
    catalogue = Catalogue.open(url)
    try:
        with catalogue.session() as session:
            assert [r.seq for r in entries_about(session, ["c-1"])] == [1, 2]
            assert [r.seq for r in entries_about(session, ["c-2"])] == [2]
    finally:
        catalogue.close()
