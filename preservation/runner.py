"""Which sources to capture now, and claiming each before capturing it.

``run_due`` (the CLI's ``witnessbox run``) and the DAG tasks go through here: every capture
of a watched source is made under a lease in the catalogue (``catalogue/leases.py``), so
any number of workers, on one host or many, capture each due source once. Losing a claim
to another worker is not an error: the source is skipped.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy import or_, select

from kernel.errors import InputError, StorageError, WitnessboxError
from preservation.catalogue import leases
from preservation.catalogue.models import Source
from preservation.pipeline import (
    CaptureOutcome,
    collect_into_staging,
    commit_pending,
    resume_pending,
)
from preservation.runtime import Runtime, file_lock


def capture_source(rt: Runtime, source: Source, *, require_due: bool = False) -> CaptureOutcome:
    """One capture of one source, start to finish, under a lease (see catalogue/leases.py)."""
    outcome = try_capture_source(rt, source.id, require_due=require_due)
    if outcome is None:
        raise InputError(f"source {source.id} is being captured by another run")
    return outcome


def try_capture_source(
    rt: Runtime, source_id: str, *, require_due: bool = False
) -> CaptureOutcome | None:
    """Claim the source and capture it; None if another worker has it (or it is not due)."""
    seconds = rt.settings.lease_seconds
    if leases.claim(rt.catalogue, rt.worker, rt.clock(), seconds, source_id=source_id,
                    require_due=require_due) is None:
        rt.progress(f"skipping {source_id}: claimed by another worker or no longer due")
        return None
    with leases.Heartbeat(rt.catalogue, source_id, rt.worker, seconds, rt.clock):
        return _capture_claimed(rt, source_id)


def _capture_claimed(rt: Runtime, source_id: str) -> CaptureOutcome:
    with rt.catalogue.session() as session:  # as it is now, not as it was when listed
        source = session.get(Source, source_id)
        if source is None:
            raise InputError(f"unknown source: {source_id}")
    capture_id = rt.new_id()
    staging = rt.settings.staging / capture_id
    with file_lock(staging.with_suffix(".lock")):  # held from the first file to the commit
        collect_into_staging(rt, source, capture_id)
        outcome = commit_pending(rt, staging)
    with contextlib.suppress(FileNotFoundError):
        staging.with_suffix(".lock").unlink()
    return outcome


def due_sources(
    rt: Runtime,
    kind: str | None = None,
    source_id: str | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    unleased: bool = False,
) -> list[Source]:
    """Active sources due now (or the one named); ``unleased``: only those no run holds."""
    now = now or rt.clock()
    with rt.catalogue.session() as session:
        query = select(Source).where(Source.removed_at.is_(None))
        if source_id:
            query = query.where(Source.id == source_id)
        else:
            query = query.where(
                Source.active.is_(True),
                or_(Source.next_due_at.is_(None), Source.next_due_at <= now),
            )
        if kind:
            query = query.where(Source.kind == kind)
        if unleased:
            query = query.where(leases.unleased(now))
        query = query.order_by(Source.next_due_at, Source.added_at)
        return list(session.scalars(query.limit(limit) if limit else query))


def due_source_ids(rt: Runtime, kind: str, limit: int | None = None) -> list[str]:
    """A collection DAG's first task: finish interrupted captures, then name the due sources
    that no other run is capturing (a source a run holds gets no task of its own here)."""
    resume_pending(rt)  # captures whose worker died after collecting are completed first
    return [s.id for s in due_sources(rt, kind=kind, limit=limit, unleased=True)]


def capture_source_id(rt: Runtime, source_id: str) -> CaptureOutcome | None:
    """One mapped DAG task: capture ``source_id``.

    None if it was paused or removed meanwhile, another worker holds it, or it was captured
    since the DAG listed it (no longer due). A retry (Airflow try 2+) of a failed capture
    captures again although the failed attempt moved the source's next due time.
    """
    with rt.catalogue.session() as session:
        source = session.get(Source, source_id)
    if source is None or not source.active or source.removed_at is not None:
        return None
    first_try = int((rt.run_context or {}).get("try_number") or 1) <= 1
    return try_capture_source(rt, source_id, require_due=first_try)


def run_due(
    rt: Runtime, kind: str | None = None, source_id: str | None = None
) -> tuple[list[CaptureOutcome], list[tuple[str, str]]]:
    """Collect every due source once: what the DAGs do, one source per task.

    Sources are claimed one at a time, so workers sharing the catalogue split the due
    sources between them; one another worker holds is skipped quietly, not an error.
    """
    outcomes = resume_pending(rt)
    errors: list[tuple[str, str]] = []
    if source_id:
        if not due_sources(rt, kind, source_id):
            raise InputError(f"unknown source: {source_id}")
        _capture_into(rt, source_id, outcomes, errors, require_due=False)
        return outcomes, errors
    tried: set[str] = set()
    seconds = rt.settings.lease_seconds
    while True:
        claimed = leases.claim(rt.catalogue, rt.worker, rt.clock(), seconds, kind=kind,
                               exclude=tried)
        if claimed is None:
            return outcomes, errors
        tried.add(claimed)
        with leases.Heartbeat(rt.catalogue, claimed, rt.worker, seconds, rt.clock):
            _capture_into(rt, claimed, outcomes, errors, claimed=True)


def _capture_into(
    rt: Runtime,
    source_id: str,
    outcomes: list[CaptureOutcome],
    errors: list[tuple[str, str]],
    *,
    require_due: bool = True,
    claimed: bool = False,
) -> None:
    rt.progress(f"capturing {source_id}")
    try:
        if claimed:
            outcomes.append(_capture_claimed(rt, source_id))
        elif (outcome := try_capture_source(rt, source_id, require_due=require_due)) is not None:
            outcomes.append(outcome)
    except StorageError as exc:
        raise StorageError(
            f"{exc} (while capturing {source_id}; staging kept for a rerun)"
        ) from exc
    except WitnessboxError as exc:
        errors.append((source_id, str(exc)))
