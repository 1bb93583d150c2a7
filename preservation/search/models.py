"""Catalogue tables for search and changes (migration ``search01``).

``search_docs`` holds one row per searchable text (a page, a message version, a video's
title and description, a subtitle track) with the original text (capped) for snippets;
the word index lives beside it: the FTS5 table ``search_fts`` on SQLite (rowid = doc id),
the ``tsv`` tsvector column with a GIN index on PostgreSQL. Both hold the normalised text
only. ``search_indexed`` marks captures whose text is indexed (idempotent commits and
reindex); ``observations`` keep what a capture showed of its source, so the next capture
can be compared without reading the store; ``changes`` are the differences found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from preservation.catalogue.models import Base


class SearchDoc(Base):
    __tablename__ = "search_docs"
    __table_args__ = (
        Index("ix_search_docs_capture", "capture_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(String(36))
    source_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    captured_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]
    field: Mapped[str] = mapped_column(String(32))  # page | title | message | video | subtitles
    item: Mapped[str | None] = mapped_column(String(256))  # message id, video id, page URL
    version: Mapped[int | None] = mapped_column(Integer)
    artifact: Mapped[str | None] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)


class SearchIndexed(Base):
    __tablename__ = "search_indexed"

    capture_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    docs: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[datetime]
    problems: Mapped[list[str]] = mapped_column(default=list)


class Observation(Base):
    __tablename__ = "observations"

    capture_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Change(Base):
    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_at", "at"), Index("ix_changes_source", "source_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str | None] = mapped_column(String(200))
    capture_id: Mapped[str] = mapped_column(String(36), index=True)
    previous_capture_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    item: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
