"""Leases: which worker is capturing a source, kept in the catalogue so every host sees it.

Any number of ``witnessbox run`` processes or Airflow workers, on one host or many, share
one catalogue. Before a capture, a worker claims the source: it writes its name and an
expiry into ``sources.lease_owner`` / ``lease_until``, and only if no live lease is there
and (for scheduled work) the source is still due. The claim is one short transaction:

- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` picks the row (rows another worker is
  claiming at this instant are skipped, never waited on), then ``UPDATE``;
- SQLite: ``BEGIN IMMEDIATE`` (one writer at a time, waiting up to the busy timeout), then
  a conditional ``UPDATE`` whose ``WHERE`` repeats every condition.

Either way two workers can never both win, and no worker ever holds two row locks at
once, so claims cannot deadlock. A worker renews its lease while it captures (a heartbeat
thread every third of the lease); a worker that dies stops renewing and its lease expires,
so the source is due again for the others. The capture's own commit moves ``next_due_at``
forward before the lease is released, so a worker that claims next finds it no longer due.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from preservation.catalogue.models import Catalogue, Source

log = logging.getLogger("witnessbox.leases")


def worker_name() -> str:
    """This process, as named in a lease: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Source.removed_at.is_(None),
        Source.active.is_(True),
        or_(Source.next_due_at.is_(None), Source.next_due_at <= now),
    )


def unleased(now: datetime) -> ColumnElement[bool]:
    """No run holds the source (never leased, or its lease ran out)."""
    return or_(Source.lease_until.is_(None), Source.lease_until <= now)


@contextlib.contextmanager
def _write(catalogue: Catalogue) -> Iterator[Connection]:
    """One short write transaction; on SQLite an IMMEDIATE one (the write lock up front)."""
    with catalogue.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # we say BEGIN ourselves
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def claim(
    catalogue: Catalogue,
    owner: str,
    now: datetime,
    seconds: int,
    *,
    source_id: str | None = None,
    kind: str | None = None,
    require_due: bool = True,
    exclude: Collection[str] = (),
) -> str | None:
    """Claim ``source_id`` (or the next due source) for ``owner``; its id, or None if lost.

    ``require_due`` re-checks the schedule inside the claim: a source another worker has
    captured since it was listed is no longer due and is not claimed again.
    """
    conditions = [unleased(now), Source.removed_at.is_(None)]
    if require_due:
        conditions.append(_due(now))
    if source_id is not None:
        conditions.append(Source.id == source_id)
    if kind is not None:
        conditions.append(Source.kind == kind)
    if exclude:
        conditions.append(Source.id.not_in(list(exclude)))
    pick = (
        select(Source.id)
        .where(*conditions)
        .order_by(Source.next_due_at.is_not(None), Source.next_due_at, Source.added_at)
        .limit(1)
    )
    with _write(catalogue) as conn:
        if conn.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        picked = conn.execute(pick).scalar()
        if picked is None:
            return None
        won = conn.execute(
            update(Source)
            .where(Source.id == picked, *conditions)
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        ).rowcount
    return picked if won == 1 else None


def renew(catalogue: Catalogue, source_id: str, owner: str, now: datetime, seconds: int) -> bool:
    """Extend our lease; False if it is no longer ours (it expired and was taken)."""
    with _write(catalogue) as conn:
        return (
            conn.execute(
                update(Source)
                .where(Source.id == source_id, Source.lease_owner == owner)
                .values(lease_until=now + timedelta(seconds=seconds))
            ).rowcount
            == 1
        )


def release(catalogue: Catalogue, source_id: str, owner: str) -> None:
    """Give the source back (only if the lease is still ours)."""
    with _write(catalogue) as conn:
        conn.execute(
            update(Source)
            .where(Source.id == source_id, Source.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


class Heartbeat:
    """Renews a lease every third of its length until stopped, then releases it."""

    def __init__(
        self,
        catalogue: Catalogue,
        source_id: str,
        owner: str,
        seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.catalogue, self.source_id, self.owner = catalogue, source_id, owner
        self.seconds, self.clock = seconds, clock
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease {source_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                now = self.clock()
                if not renew(self.catalogue, self.source_id, self.owner, now, self.seconds):
                    self.lost = True
                    log.warning("lease on %s expired and was taken by another worker",
                                self.source_id)
                    return
            except Exception as exc:  # the catalogue is briefly unreachable: try again
                log.warning("could not renew the lease on %s: %s", self.source_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        release(self.catalogue, self.source_id, self.owner)
