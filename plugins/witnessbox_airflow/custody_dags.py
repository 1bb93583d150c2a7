"""The custody DAGs: seal new captures with trusted timestamps, audit fixity on a schedule.

They run the same functions as ``witnessbox seal`` and ``witnessbox verify``. The seal
runs whenever a collection DAG publishes a capture on a ``witnessbox://captures/<kind>``
asset (and hourly, for captures made outside Airflow). A failed audit or a broken ledger
fails its task (red in the UI), names every damaged object in the log and calls the
configured notifier (``witnessbox_airflow.notify``); the result is in the custody ledger
either way. Settings that cannot work fail at once, without retries.
"""

from __future__ import annotations

import functools
import logging
import operator
from datetime import timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule

from kernel.errors import ConfigError
from witnessbox_airflow.collection import captures_asset, fail_now
from witnessbox_airflow.dag_factory import DAG_DEFAULTS, run_context
from witnessbox_airflow.hooks import WitnessboxHook
from witnessbox_airflow.kinds import KINDS
from witnessbox_airflow.notify import on_failure

log = logging.getLogger("witnessbox.airflow.custody")

#: one custody run at a time: seals and audits append to the same ledger
CUSTODY_DEFAULTS: dict[str, Any] = {**DAG_DEFAULTS, "max_active_runs": 1}
SEAL_FALLBACK_CRON = "17 * * * *"  # hourly, for captures made outside Airflow
AUDIT_SCHEDULE = timedelta(days=1)


def seal_new_captures() -> dict[str, Any]:
    """Seal every unsealed capture in one batch; skip quietly while no TSA is configured."""
    from airflow.sdk.exceptions import AirflowSkipException

    from kernel.errors import CollectionError
    from preservation.custody.timestamps import seal_configured

    try:
        with WitnessboxHook(run_context()) as hook:
            outcome = seal_configured(hook.get_conn())
    except ConfigError as exc:  # e.g. no trusted TSA root: retrying cannot help
        raise fail_now(exc) from None
    if outcome is None:
        raise AirflowSkipException("no TSA configured (variable witnessbox_tsa_urls)")
    for problem in outcome.skipped:
        log.error("not sealed: %s", problem)
    for failure in outcome.failures:
        log.warning("TSA did not answer: %s", failure)
    if not outcome.sealed and outcome.failures:
        # offline-first: the captures wait unsealed; a retry or the next run seals them
        raise CollectionError(f"no TSA answered: {'; '.join(outcome.failures)}")
    return outcome.as_dict()


def audit_fixity(sample: int) -> dict[str, Any]:
    """Re-read and check ``sample`` random captures (0: all) on every copy; with the setting
    ``auto_repair`` rewrite damaged copies from good ones; fail naming what is left.

    The same checks as ``witnessbox verify``: fixity, signatures, seals, S3 retention of
    every object in scope and the custody ledger's chain (kept for the Audit page).
    """
    from kernel.errors import IntegrityError
    from preservation.custody.audit import run_audit

    try:
        with WitnessboxHook(run_context()) as hook:
            rt = hook.get_conn()
            if rt.replicator is not None:  # replicas catch up first: what is queued is not damage
                rt.replicator.drain(force=True)
            report = run_audit(rt, sample=sample or None, capture_id=None)
            record_ledger_check(rt, report)
            left = [str(p) for p in report.problems]
            repairs: list[dict[str, Any]] = []
            if not report.ok and rt.settings.auto_repair:
                from preservation.custody.repair import repair, unrepaired

                done = repair(rt, report)
                repairs = [fix.as_dict() for fix in done]
                left = unrepaired(report, done)
                for fix in done:
                    log.warning("repaired %s on %s: %s", fix.key, fix.copy, fix.note or fix.error)
    except ConfigError as exc:  # settings that cannot work: retrying cannot help
        raise fail_now(exc) from None
    summary = {
        "scope": report.scope,
        "captures": len(report.captures),
        "blobs": report.blobs,
        "bytes": report.bytes,
        "ok": report.ok,
        "retention": report.retention,
        "ledger": report.ledger,
        "problems": [str(p) for p in report.problems],
        "ledger_entry": report.ledger_seq,
        "repairs": repairs,
    }
    if left:
        for problem in left:
            log.error("FAIL %s", problem)
        raise IntegrityError(
            f"fixity audit found {len(report.problems)} problem(s), {len(left)} not repaired",
            details=report.problems,
        )
    log.info("audit passed: %d capture(s), %d blob(s)", len(report.captures), report.blobs)
    return summary


def record_ledger_check(rt: Any, report: Any) -> None:
    """Keep the audit's ledger check beside the audits (scope ``ledger``) for the Audit page."""
    from preservation.catalogue.models import AuditResult

    if not report.ledger:
        return  # skipped
    problems = [str(p) for p in report.problems if "ledger" in f"{p.kind} {p.subject}"]
    if not report.ledger.get("ok") and not problems:
        problems = ["the ledger check failed: see the audit's problems"]
    with rt.catalogue.session.begin() as session:
        session.add(
            AuditResult(
                started_at=report.started_at,
                finished_at=rt.clock(),
                scope="ledger",
                checked=int(report.ledger.get("entries") or 0),
                failed=len(problems),
                details=problems,
            )
        )


def seal_schedule() -> Any:
    """New captures of any kind (any one asset: ``a | b | c``; a list would wait for all)
    or hourly, whichever comes first."""
    any_capture = functools.reduce(operator.or_, (captures_asset(kind) for kind in KINDS))
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(SEAL_FALLBACK_CRON, timezone="UTC"), assets=any_capture
    )


def seal_dag(schedule: Any = None) -> Any:
    @dag(
        dag_id="witnessbox_seal",
        schedule=schedule or seal_schedule(),
        **CUSTODY_DEFAULTS,
        tags=["witnessbox", "custody"],
        doc_md="Request RFC 3161 timestamps for every unsealed capture (one Merkle batch).",
    )
    def sealing() -> None:
        @task(
            task_id="seal",
            retries=6,  # only while no TSA answers: 30 s, 1 min, 2 min, ... at most 30 min
            retry_delay=timedelta(seconds=30),
            retry_exponential_backoff=2.0,
            max_retry_delay=timedelta(minutes=30),
        )
        def seal() -> dict[str, Any]:
            return seal_new_captures()

        seal()

    return sealing()


def fixity_audit_dag(schedule: timedelta = AUDIT_SCHEDULE) -> Any:
    @dag(
        dag_id="witnessbox_fixity_audit",
        schedule=schedule,
        **CUSTODY_DEFAULTS,
        tags=["witnessbox", "custody"],
        params={
            "sample": Param(
                None,
                type=["null", "integer"],
                minimum=0,
                description="captures to check at random; 0 = every capture; "
                "empty = the witnessbox_audit_sample setting",
            )
        },
        doc_md=(
            "Fixity audit: re-read blobs, recompute sha256, check signatures and seals, "
            "record the result in the custody ledger. Trigger with `sample: 0` for a full audit."
        ),
    )
    def fixity() -> None:
        @task(
            task_id="audit",
            execution_timeout=timedelta(hours=12),
            on_failure_callback=on_failure,
        )
        def audit() -> dict[str, Any]:
            chosen = get_current_context()["params"].get("sample")
            if chosen is None:
                chosen = WitnessboxHook(run_context()).settings().audit_sample
            return audit_fixity(int(chosen))

        audit()

    return fixity()
