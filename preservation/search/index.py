"""Write a capture's text into the word index, and search it, on SQLite or PostgreSQL.

SQLite: an FTS5 table (``ascii`` tokenizer over text already normalised here, so the
index splits exactly where the normaliser did). PostgreSQL: a tsvector built here with its
positions (cast from a literal: no text-search parser or dictionary changes a word) and a
GIN index. Queries are compiled by ``query`` for each; hits come newest first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, MetaData, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from kernel.errors import ConfigError, InputError
from kernel.ids import isoformat, parse_time
from preservation.catalogue.models import Capture
from preservation.search import query as queries
from preservation.search.extract import Doc
from preservation.search.models import SearchDoc, SearchIndexed
from preservation.search.snippet import make_snippet
from preservation.search.text import tokens

MAX_LIMIT = 1000
#: Newest first. PostgreSQL then walks the primary key backwards for common words (fast) and
#: sometimes for phrases and rare words too (slow: it misjudges their selectivity); forcing
#: the GIN index instead (``ORDER BY d.id + 0``) was measured slower overall (bench/README).
_PG_ORDER = " ORDER BY d.id DESC LIMIT :limit"
_MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
_MAX_POSITIONS = 255  # positions kept per lexeme


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def tsvector_literal(words: list[str]) -> str:
    """Folded tokens → a tsvector literal with positions (phrase search needs them)."""
    positions: dict[str, list[int]] = defaultdict(list)
    for n, word in enumerate(words, start=1):
        kept = positions[word]
        if len(kept) < _MAX_POSITIONS:
            kept.append(min(n, _MAX_POSITION))
    parts = []
    for word, where in positions.items():
        quoted = word.replace("\\", "\\\\").replace("'", "''")
        parts.append(f"'{quoted}':{','.join(map(str, dict.fromkeys(where)))}")  # ascending
    return " ".join(parts)


def _pg_docs_table() -> Any:
    from sqlalchemy.dialects.postgresql import TSVECTOR

    table = SearchDoc.__table__.to_metadata(MetaData())
    table.append_column(Column("tsv", TSVECTOR, nullable=False))
    return table


_PG_TABLE: Any = None


def write_docs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert documents (``SearchDoc`` columns) and index their words, in one transaction."""
    global _PG_TABLE
    if not rows:
        return
    name = dialect(session)
    folded = [tokens(row["text"]) for row in rows]
    if name == "postgresql":
        _PG_TABLE = _PG_TABLE if _PG_TABLE is not None else _pg_docs_table()
        batch = [{**row, "tsv": tsvector_literal(w)} for row, w in zip(rows, folded, strict=True)]
        session.execute(insert(_PG_TABLE), batch)
        return
    if name == "sqlite":
        _sqlite_insert(session, rows, folded)
    else:  # no word index on other backends; search says so
        session.execute(insert(SearchDoc.__table__), rows)


def _sqlite_time(moment: datetime | None) -> str | None:
    """A UTC time as the catalogue's SQLite columns hold it (SQLAlchemy's DATETIME text)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the catalogue")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_insert(session: Session, rows: list[dict[str, Any]], folded: list[list[str]]) -> None:
    """The commit path's hot loop on SQLite: plain DBAPI executemany, no ORM per row."""
    columns = [c.name for c in SearchDoc.__table__.c if c.name != "id"]
    times = {"captured_at", "posted_at"}
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_sqlite_time(row[c]) if c in times else row.get(c) for c in columns)

    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        insert_sql = f"INSERT INTO search_docs ({names}) VALUES ({marks})"  # noqa: S608 - model columns
        cursor.execute(insert_sql, values(rows[0]))
        first = cursor.lastrowid
        # that insert took SQLite's write lock: no other writer can take the next ids
        cursor.executemany(
            f"INSERT INTO search_docs (id, {names}) VALUES (?, {marks})",  # noqa: S608
            [(first + n, *values(row)) for n, row in enumerate(rows[1:], start=1)],
        )
        cursor.executemany(
            "INSERT INTO search_fts(rowid, body) VALUES (?, ?)",
            [(first + n, " ".join(w)) for n, w in enumerate(folded)],
        )
    finally:
        cursor.close()


def doc_rows(manifest: dict[str, Any], docs: list[Doc]) -> list[dict[str, Any]]:
    capture = manifest["capture"]
    source = manifest["source"]
    finished = parse_time(capture["finished_at"])
    return [
        {
            "capture_id": capture["id"],
            "source_id": source["id"],
            "kind": source["kind"],
            "case_id": source.get("case"),
            "status": capture["status"],
            "captured_at": finished,
            "posted_at": doc.posted_at,
            "field": doc.field,
            "item": (doc.item or None) and doc.item[:256],
            "version": doc.version,
            "artifact": doc.artifact,
            "text": doc.text,
        }
        for doc in docs
    ]


def index_capture(
    session: Session, manifest: dict[str, Any], docs: list[Doc], problems: list[str],
    now: datetime,
) -> int:
    """Index a committed capture's text once (a capture already indexed is left alone)."""
    capture_id = manifest["capture"]["id"]
    if session.get(SearchIndexed, capture_id) is not None:
        return 0
    write_docs(session, doc_rows(manifest, docs))
    session.add(
        SearchIndexed(capture_id=capture_id, docs=len(docs), indexed_at=now, problems=problems)
    )
    return len(docs)


# -- search -----------------------------------------------------------------------------------
@dataclass
class Hit:
    capture_id: str
    source_id: str
    source_url: str
    kind: str
    case: str | None
    status: str
    captured_at: str
    posted_at: str | None
    field: str
    item: str | None
    version: int | None
    artifact: str | None
    snippet: str
    marks: list[tuple[int, int]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Filters:
    case: str | None = None
    kind: str | None = None
    source: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(filters: Filters) -> tuple[list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for column, value in (("case_id", filters.case), ("kind", filters.kind),
                          ("source_id", filters.source), ("status", filters.status)):  # fmt: skip
        if value:
            clauses.append(f"d.{column} = :{column}")
            params[column] = value
    if filters.since:
        clauses.append("d.captured_at >= :since")
        params["since"] = filters.since
    if filters.until:
        clauses.append("d.captured_at < :until")
        params["until"] = filters.until
    return clauses, params


def _bind_times(session: Session, params: dict[str, Any]) -> None:
    """Compare times as the catalogue stores them (SQLite keeps naive UTC text)."""
    processor = SearchDoc.__table__.c.captured_at.type.dialect_impl(
        session.get_bind().dialect
    ).bind_processor(session.get_bind().dialect)
    for key in ("since", "until"):
        if key in params and processor is not None:
            params[key] = processor(SearchDoc.__table__.c.captured_at.type.process_bind_param(
                params[key], None))  # fmt: skip


def search(
    session: Session, text_query: str, filters: Filters | None = None, limit: int = 50
) -> list[Hit]:
    """Documents matching ``text_query`` under ``filters``, newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"--limit must be between 1 and {MAX_LIMIT}")
    tree = queries.parse(text_query)
    clauses, params = _where(filters or Filters())
    _bind_times(session, params)
    params["limit"] = limit
    name = dialect(session)
    if name == "sqlite":
        params["q"] = queries.to_fts5(tree)
        sql = ("SELECT d.id FROM search_fts JOIN search_docs d ON d.id = search_fts.rowid "
               "WHERE search_fts MATCH :q")  # fmt: skip
        order = " ORDER BY search_fts.rowid DESC LIMIT :limit"
    elif name == "postgresql":
        params["q"] = queries.to_tsquery(tree)
        sql = "SELECT d.id FROM search_docs d WHERE d.tsv @@ CAST(:q AS tsquery)"
        order = _PG_ORDER
    else:
        raise ConfigError(f"full-text search needs SQLite or PostgreSQL, not {name}")
    sql += "".join(f" AND {c}" for c in clauses) + order
    try:
        ids = [row[0] for row in session.execute(text(sql), params)]
    except DBAPIError as exc:  # the compiled query is ours: this is a bug or a broken index
        raise InputError(f"search failed: {exc.orig}") from None
    if not ids:
        return []
    docs = {d.id: d for d in session.scalars(select(SearchDoc).where(SearchDoc.id.in_(ids)))}
    captures = dict(
        session.execute(
            select(Capture.id, Capture.source_url).where(
                Capture.id.in_({d.capture_id for d in docs.values()})
            )
        ).all()
    )
    wanted = queries.terms(tree)
    hits = []
    for doc_id in ids:
        doc = docs[doc_id]
        snip = make_snippet(doc.text, wanted)
        hits.append(
            Hit(
                doc.capture_id, doc.source_id, captures.get(doc.capture_id, ""), doc.kind,
                doc.case_id, doc.status, isoformat(doc.captured_at),
                isoformat(doc.posted_at) if doc.posted_at else None, doc.field, doc.item,
                doc.version, doc.artifact, snip.text, snip.marks,
            )
        )
    return hits


def clear(session: Session) -> None:
    """Forget the text index and changes (``reindex --wipe`` rebuilds them from the store)."""
    from preservation.search.models import Change, Observation

    for model in (Change, Observation, SearchIndexed, SearchDoc):
        session.execute(model.__table__.delete())
    if dialect(session) == "sqlite":
        session.execute(text("INSERT INTO search_fts(search_fts) VALUES('delete-all')"))
