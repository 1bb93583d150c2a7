"""The custody DAGs: seal new captures with trusted timestamps, audit fixity on a schedule.

They run the same functions as ``witnessbox seal`` and ``witnessbox verify``. A failed
audit fails its task (red in the UI) and names every damaged object in the log; the result
is in the custody ledger either way.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from witnessbox_airflow.dag_factory import DAG_DEFAULTS, run_context
from witnessbox_airflow.hooks import WitnessboxHook

log = logging.getLogger("witnessbox.airflow.custody")

SEAL_SCHEDULE = timedelta(hours=1)
AUDIT_SCHEDULE = timedelta(days=1)


def seal_new_captures() -> dict[str, Any]:
    """Seal every unsealed capture in one batch; skip quietly while no TSA is configured."""
    from airflow.exceptions import AirflowSkipException

    from kernel.errors import CollectionError
    from preservation.custody.timestamps import seal_configured

    with WitnessboxHook(run_context()) as hook:
        outcome = seal_configured(hook.get_conn())
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
    every object in scope and the custody ledger's chain.
    """
    from kernel.errors import IntegrityError
    from preservation.custody.audit import run_audit

    with WitnessboxHook(run_context()) as hook:
        rt = hook.get_conn()
        if rt.replicator is not None:  # replicas catch up first: what is queued is not damage
            rt.replicator.drain(force=True)
        report = run_audit(rt, sample=sample or None, capture_id=None)
        left = [str(p) for p in report.problems]
        repairs: list[dict[str, Any]] = []
        if not report.ok and rt.settings.auto_repair:
            from preservation.custody.repair import repair, unrepaired

            done = repair(rt, report)
            repairs = [fix.as_dict() for fix in done]
            left = unrepaired(report, done)
            for fix in done:
                log.warning("repaired %s on %s: %s", fix.key, fix.copy, fix.note or fix.error)
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
    return summary


def seal_dag(schedule: timedelta = SEAL_SCHEDULE) -> Any:
    @dag(
        dag_id="witnessbox_seal",
        schedule=schedule,
        **DAG_DEFAULTS,
        tags=["witnessbox", "custody"],
        doc_md="Request RFC 3161 timestamps for every unsealed capture (one Merkle batch).",
    )
    def sealing() -> None:
        @task(
            task_id="seal",
            retries=6,
            retry_delay=timedelta(minutes=5),
            retry_exponential_backoff=2.0,
            max_retry_delay=timedelta(hours=2),
        )
        def seal() -> dict[str, Any]:
            return seal_new_captures()

        seal()

    return sealing()


def fixity_audit_dag(schedule: timedelta = AUDIT_SCHEDULE) -> Any:
    @dag(
        dag_id="witnessbox_fixity_audit",
        schedule=schedule,
        **DAG_DEFAULTS,
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
        @task(task_id="audit", execution_timeout=timedelta(hours=12))
        def audit() -> dict[str, Any]:
            chosen = get_current_context()["params"].get("sample")
            if chosen is None:
                chosen = WitnessboxHook(run_context()).settings().audit_sample
            return audit_fixity(int(chosen))

        audit()

    return fixity()
