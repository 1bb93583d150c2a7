"""One collection DAG per source kind: find due sources, one mapped capture task each.

DAG files stay declarative: ``collection_dag("web")`` is all a file in ``dags/`` says.
Tasks call the same ``preservation.pipeline`` functions as ``witnessbox run``; XCom
carries ids and statuses only, never bytes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

from witnessbox_airflow.hooks import WitnessboxHook
from witnessbox_airflow.kinds import POOLS, queue_for, schedule_for

MAX_SOURCES_PER_RUN = 500
#: What every witnessbox DAG shares: no backfill of missed runs, one run at a time.
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "max_active_runs": 1,
}


def run_context() -> dict[str, Any]:
    ctx = get_current_context()
    ti = ctx["ti"]
    return {
        "via": "airflow",
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "try_number": ti.try_number,
        "map_index": ti.map_index,
    }


def find_due_sources(kind: str) -> list[str]:
    from preservation.runner import due_source_ids

    with WitnessboxHook(run_context()) as hook:
        return due_source_ids(hook.get_conn(), kind, MAX_SOURCES_PER_RUN)


def capture_one(source_id: str) -> dict[str, Any]:
    from kernel.errors import CollectionError
    from preservation.runner import capture_source_id

    with WitnessboxHook(run_context()) as hook:
        outcome = capture_source_id(hook.get_conn(), source_id)
    if outcome is None:
        reason = "no longer active or due, or claimed by another worker"
        return {"source_id": source_id, "status": "skipped", "reasons": [reason]}
    if outcome.status == "failed":  # recorded already; raising lets Airflow retry with backoff
        raise CollectionError(
            f"{source_id}: {'; '.join(outcome.reasons)} (capture {outcome.capture_id})"
        )
    return outcome.as_dict()


def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for result in results:
        if result:
            summary[result["status"]] = summary.get(result["status"], 0) + 1
    return summary


def collection_dag(kind: str, schedule: timedelta | None = None) -> Any:
    pool = POOLS[kind][0]

    @dag(
        dag_id=f"witnessbox_{kind}",
        schedule=schedule or schedule_for(kind),
        **DAG_DEFAULTS,
        tags=["witnessbox", kind],
        doc_md=f"Collect every due **{kind}** source of the witnessbox watchlist once.",
    )
    def collection() -> None:
        @task(task_id="due_sources")
        def due() -> list[str]:
            return find_due_sources(kind)

        @task(
            task_id="capture",
            pool=pool,
            queue=queue_for(kind),  # Celery: only workers listening on it take the capture
            retries=3,
            retry_delay=timedelta(minutes=2),
            retry_exponential_backoff=2.0,
            max_retry_delay=timedelta(hours=1),
            execution_timeout=timedelta(hours=2),
            map_index_template="{{ witnessbox_source_id }}",
        )
        def capture(source_id: str) -> dict[str, Any]:
            get_current_context()["witnessbox_source_id"] = source_id  # names the mapped task
            return capture_one(source_id)

        @task(task_id="record", trigger_rule="all_done")
        def record(results: list[dict[str, Any]]) -> dict[str, int]:
            return summarise(list(results))

        record(capture.expand(source_id=due()))

    return collection()
