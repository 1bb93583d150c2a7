"""What a collection DAG's tasks do: pick sources, capture one, summarise, check.

A failed capture is recorded once (its manifest says why) and its task fails at once with
``AirflowFailException``: a retry would only store a second failed capture of the same
attempt. Airflow retries only errors raised before anything was stored (the store down,
the source locked by another run), and a retry first completes a capture its previous
try left staged. Configuration errors fail at once, without retries.
"""

from __future__ import annotations

import logging
from typing import Any

from kernel.errors import ConfigError, InputError

log = logging.getLogger("witnessbox.airflow.collection")
# opening the catalogue runs alembic, whose INFO lines would bury each task's outcome
logging.getLogger("alembic").setLevel(logging.WARNING)
MAX_SOURCES_PER_RUN = 500
MAX_LABEL = 200
ASSET_PREFIX = "witnessbox://captures/"


def captures_asset(kind: str) -> Any:
    from airflow.sdk import Asset

    return Asset(uri=f"{ASSET_PREFIX}{kind}", name=f"witnessbox_captures_{kind}")


def airflow_version() -> str:
    try:
        from airflow import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - only inside Airflow
        return ""


def run_context() -> dict[str, Any]:
    """Where a capture was made, for its manifest: the DAG, run, task, map index and try."""
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    return {
        "via": "airflow",
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "airflow_version": airflow_version(),
    }


def hook() -> Any:
    """A hook for one task: its runtime is opened on first use and closed with the task."""
    from witnessbox_airflow.hooks import WitnessboxHook

    return WitnessboxHook(run_context())


def fail_now(exc: Exception) -> Exception:
    """An exception Airflow will not retry (a setting that cannot work stays broken)."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"configuration error: {exc}")


def reason_kind(reasons: list[str]) -> str:
    """The kind of the first reason (``http-404``, ``collector error``, ``timeout``)."""
    if not reasons:
        return "unknown"
    return reasons[0].split(":", 1)[0].strip()[:60] or "unknown"


def _entry(source: Any, forced: bool) -> dict[str, Any]:
    return {"source_id": source.id, "label": source.url[:MAX_LABEL], "forced": forced}


def pick_sources(kind: str, conf: dict[str, Any]) -> list[dict[str, Any]]:
    """Due sources, or ``{"source": ID}`` / ``{"all": true}`` from the run's config (now)."""
    try:
        with hook() as h:
            return _pick(h.get_conn(), kind, conf)
    except ConfigError as exc:
        raise fail_now(exc) from None


def _pick(rt: Any, kind: str, conf: dict[str, Any]) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from preservation.catalogue.models import Source
    from preservation.pipeline import resume_pending
    from preservation.runner import due_sources

    resume_pending(rt)  # captures whose worker died after collecting are completed first
    if conf.get("source"):
        with rt.catalogue.session() as session:
            source = session.get(Source, str(conf["source"]))
        if source is None or source.removed_at is not None or source.kind != kind:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"no {kind} source {conf['source']!r} on the watchlist")
        return [_entry(source, True)]
    if conf.get("all"):
        with rt.catalogue.session() as session:
            query = select(Source).where(
                Source.kind == kind, Source.active.is_(True), Source.removed_at.is_(None)
            )
            return [_entry(s, True) for s in session.scalars(query.order_by(Source.added_at))]
    return [_entry(s, False) for s in due_sources(rt, kind=kind, limit=MAX_SOURCES_PER_RUN)]


def _skip(ctx: Any, source_id: str, why: str) -> Exception:
    """Skip the task, leaving the summary a result that says why."""
    from airflow.sdk.exceptions import AirflowSkipException

    ctx["ti"].xcom_push("return_value", {"source_id": source_id, "status": "skipped"})
    log.info("skipped: source=%s (%s)", source_id, why)
    return AirflowSkipException(why)


def capture_one(entry: dict[str, Any], asset: Any) -> dict[str, Any]:
    """Capture one source; a failed capture fails the task (named by its source) once."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    ctx = get_current_context()
    source_id = entry["source_id"]
    try:
        with hook() as h:
            source, outcome = _capture(h.get_conn(), ctx, entry)
    except ConfigError as exc:
        raise fail_now(exc) from None
    except InputError as exc:  # e.g. removed between listing and capturing
        raise _skip(ctx, source_id, str(exc)) from None
    result = {**outcome.as_dict(), "url": source.url, "kind": source.kind}
    line = (
        f"source={source_id} url={source.url} status={outcome.status} "
        f"reason={reason_kind(outcome.reasons) if outcome.reasons else '-'} "
        f"capture={outcome.capture_id}"
    )
    if outcome.status == "failed":
        ctx["ti"].xcom_push("return_value", result)  # the summary counts it
        log.error("capture failed: %s (%s)", line, "; ".join(outcome.reasons))
        raise AirflowFailException(f"capture failed: {line}")
    extra = {"capture_id": outcome.capture_id, "status": outcome.status, "source_id": source_id}
    ctx["outlet_events"][asset].extra = extra
    if outcome.status == "partial":
        log.warning("capture partial: %s (%s)", line, "; ".join(outcome.reasons))
    else:
        log.info("capture complete: %s", line)
    return result


def _capture(rt: Any, ctx: Any, entry: dict[str, Any]) -> tuple[Any, Any]:
    """The source and its outcome; skips what is paused, removed, claimed or not due."""
    from preservation.catalogue.models import Source
    from preservation.pipeline import resume_pending
    from preservation.runner import try_capture_source

    source_id, forced = entry["source_id"], bool(entry.get("forced"))
    with rt.catalogue.session() as session:
        source = session.get(Source, source_id)
    if source is None or source.removed_at is not None:
        raise _skip(ctx, source_id, "removed from the watchlist")
    if not source.active and not forced:
        raise _skip(ctx, source_id, "paused")
    resumed = resume_pending(rt, source_id=source_id)  # what a previous try left staged
    if resumed:
        return source, resumed[-1]
    first_try = int(ctx["ti"].try_number or 1) <= 1
    outcome = try_capture_source(rt, source_id, require_due=first_try and not forced)
    if outcome is None:
        raise _skip(ctx, source_id, "claimed by another worker, or captured since listed")
    return source, outcome


def summarise(picked: list[dict[str, Any]], results: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Count every outcome; a picked source without a result failed before it stored one."""
    counts: dict[str, int] = {}
    by_source = {r["source_id"]: r for r in results if r}
    for entry in picked:
        result = by_source.get(entry["source_id"])
        status = result["status"] if result else "no-capture"
        counts[status] = counts.get(status, 0) + 1
    partial = [r for r in by_source.values() if r["status"] == "partial"]
    failed = [r for r in by_source.values() if r["status"] == "failed"]
    for r in partial:
        log.warning(
            "partial: source=%s url=%s capture=%s", r["source_id"], r["url"], r["capture_id"]
        )
    for r in failed:
        log.error(
            "failed: source=%s url=%s reason=%s capture=%s",
            r["source_id"],
            r["url"],
            reason_kind(r["reasons"]),
            r["capture_id"],
        )
    told = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    log.info("summary: %s", told or "nothing due")
    failed_captures = [
        {"capture_id": r["capture_id"], "source_id": r["source_id"]}
        for r in failed
        if r.get("capture_id")
    ]
    return {"sources": len(picked), "counts": counts, "failed_captures": failed_captures}


def announce_failed(summary: dict[str, Any], asset: Any) -> None:
    """One asset event for the run's failed captures (their own tasks failed, and a failed
    task publishes nothing); skipped when there are none, so no event is sent."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    failed = summary.get("failed_captures") or []
    if not failed:
        raise AirflowSkipException("no failed capture to announce")
    ctx = get_current_context()
    ctx["outlet_events"][asset].extra = {
        "status": "failed",
        "capture_ids": [f["capture_id"] for f in failed],
        "source_ids": [f["source_id"] for f in failed],
    }
    log.info("announced %d failed capture(s) for sealing", len(failed))


def check(summary: dict[str, Any]) -> None:
    """Fail the run (red) when any source ended without a complete or partial capture."""
    fine = ("complete", "partial", "skipped")
    bad = {s: n for s, n in summary["counts"].items() if s not in fine}
    if bad:
        from airflow.sdk.exceptions import AirflowFailException

        what = ", ".join(f"{n} {s}" for s, n in sorted(bad.items()))
        raise AirflowFailException(f"{what} of {summary['sources']} source(s); see the summary")
