"""The catalogue: an SQL index of the watchlist, cursors, captures, artifacts and hashes.

It is an index, not the truth: the store is. ``witnessbox reindex`` rebuilds every capture
row from the manifests alone. SQLite (``WITNESSBOX_HOME/catalogue.sqlite``) by default,
PostgreSQL by URL; the schema is managed by alembic migrations applied on open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from kernel.errors import ConfigError
from preservation.catalogue import connect


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the catalogue")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (
        UniqueConstraint("kind", "url", name="uq_sources_kind_url"),
        Index("ix_sources_added_at_id", "added_at", "id"),  # the Watchlist page's order
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    url: Mapped[str] = mapped_column(String(4096))
    schedule_seconds: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(default=list)
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    removed_at: Mapped[datetime | None]
    last_capture_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(16))
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    #: the worker capturing it now, and until when (see preservation/catalogue/leases.py)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]

    cursors: Mapped[list[Cursor]] = relationship(back_populates="source", cascade="all")


class Cursor(Base):
    """Per-source collection state (Telegram last message id, preview paging, etc.)."""

    __tablename__ = "cursors"

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]

    source: Mapped[Source] = relationship(back_populates="cursors")


class SourceItem(Base):
    """One item of a source already seen (a video id, a message id) and its fate."""

    __tablename__ = "source_items"

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # captured | failed | deleted
    capture_id: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class Capture(Base):
    __tablename__ = "captures"
    __table_args__ = (  # scale01_indexes: filtered lists newest first, keyset pages
        Index("ix_captures_source_id_id", "source_id", "id"),
        Index("ix_captures_case_id_id", "case_id", "id"),
        Index("ix_captures_status_id", "status", "id"),
        # last capture and failures in a row per source (the Watchlist page)
        Index("ix_captures_source_status_id", "source_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(32))
    source_url: Mapped[str] = mapped_column(String(4096))
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(default=list)
    collector: Mapped[str] = mapped_column(String(64))
    collector_version: Mapped[str] = mapped_column(String(64))
    manifest_key: Mapped[str] = mapped_column(String(512))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    previous_capture_id: Mapped[str | None] = mapped_column(String(36))
    run_context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    indexed_at: Mapped[datetime]

    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="Artifact.id"
    )


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("capture_id", "name", name="uq_artifacts_capture_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(32))
    media_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sha512: Mapped[str] = mapped_column(String(128))
    md5: Mapped[str] = mapped_column(String(32), index=True)
    derived_from: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)

    capture: Mapped[Capture] = relationship(back_populates="artifacts")


class PerceptualHash(Base):
    __tablename__ = "perceptual_hashes"
    __table_args__ = (
        Index("ix_phash_algorithm_prefix", "algorithm", "prefix"),
        Index("ix_phash_sha256_algorithm_frame", "sha256", "algorithm", "frame"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))  # the hashed artifact
    algorithm: Mapped[str] = mapped_column(String(32))
    bits: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(128))  # hex, most significant bit first
    prefix: Mapped[int] = mapped_column(Integer)  # top 16 bits, for candidate lookups
    frame: Mapped[str | None] = mapped_column(String(32))  # video keyframe time, if any
    quality: Mapped[int | None] = mapped_column(Integer)
    library: Mapped[str] = mapped_column(String(64))


class SimilarLink(Base):
    """Two artifacts found to be near-duplicates: linked, never merged."""

    __tablename__ = "similar_links"
    __table_args__ = (Index("ix_similar_links_b_sha256", "b_sha256"),)

    a_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    b_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32), primary_key=True)
    distance: Mapped[int] = mapped_column(Integer)
    found_at: Mapped[datetime]


class LedgerEntry(Base):
    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_event_subject", "event", "subject"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(512), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerMention(Base):
    """An id a ledger entry names in its data besides its subject (a seal's captures, an
    export's captures): finding every entry about a capture is then an index lookup."""

    __tablename__ = "ledger_mentions"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    seq: Mapped[int] = mapped_column(
        ForeignKey("ledger.seq", ondelete="CASCADE"), primary_key=True, index=True
    )


class AuditResult(Base):
    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    scope: Mapped[str] = mapped_column(String(200))
    checked: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    details: Mapped[list[str]] = mapped_column(default=list)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    url = connect.normalise(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    except Exception as exc:  # bad URL or missing driver
        raise connect.config_error(url, exc, "use") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Catalogue:
    """An engine plus a session factory; ``open`` migrates the schema first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Catalogue:
        engine = make_engine(url)
        if upgrade:
            try:
                migrate(engine)
            except ConfigError:
                raise
            except Exception as exc:  # unreachable, wrong password, no such database
                engine.dispose()
                raise connect.config_error(engine.url, exc) from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()
