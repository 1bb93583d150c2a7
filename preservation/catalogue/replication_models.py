"""The durable replication queue: what each replica still lacks, and when it was last checked.

A row in ``replication`` means "replica R does not yet hold a confirmed copy of key K"; it is
written when the primary stores K and deleted once R's copy is confirmed, so a replica that
is down loses nothing: its rows wait. ``replica_state`` keeps the last sync and check.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from preservation.catalogue.models import Base


class ReplicationItem(Base):
    __tablename__ = "replication"
    __table_args__ = (UniqueConstraint("replica", "key", name="uq_replication_replica_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    replica: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(512))
    enqueued_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]


class ReplicaState(Base):
    __tablename__ = "replica_state"

    replica: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_check_at: Mapped[datetime | None]
    last_check_ok: Mapped[bool | None]
