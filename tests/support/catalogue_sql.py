"""Raw SQL on whichever catalogue a test runs against (SQLite or PostgreSQL).

Tests that tamper with the catalogue behind witnessbox's back (delete rows, change a ledger
copy, lose it entirely) go through here, never through a ``catalogue.sqlite`` path, so they
run on both backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from kernel.settings import Settings


def _url(target: Settings | str) -> str:
    return target.catalogue if isinstance(target, Settings) else target


def sql(target: Settings | str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement in its own transaction; its rows, if it returns any."""
    engine = create_engine(_url(target))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def exists(target: Settings | str) -> bool:
    """Whether the catalogue has been created (a schema with a sources table)."""
    url = _url(target)
    if url.startswith("sqlite:///"):
        if not Path(url.removeprefix("sqlite:///")).exists():
            return False
    from sqlalchemy import inspect

    engine = create_engine(url)
    try:
        return inspect(engine).has_table("sources")
    finally:
        engine.dispose()


def wipe(target: Settings | str) -> None:
    """Lose the catalogue entirely (the file, or every table in the database)."""
    url = _url(target)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink()
        return
    sql(url, "DROP SCHEMA public CASCADE")
    sql(url, "CREATE SCHEMA public")
