"""One collection DAG per source kind: pick sources, one mapped capture task each, summary, check.

DAG files stay declarative: ``collection_dag("web")`` is all a file in ``dags/`` says.
Tasks call the same ``preservation.pipeline`` functions as ``witnessbox run``; XCom
carries ids and statuses only, never bytes. Each tick picks every due source, so a
source added at any time is captured on its kind's next tick; trigger a run with
``{"source": ID}`` or ``{"all": true}`` to capture now. Each mapped task is labelled with
its source's URL (from its input, so also when it fails); each capture publishes an
event on the asset ``witnessbox://captures/<kind>``, on which ``witnessbox_seal`` runs
(a failed capture's task fails, so ``announce_failed`` publishes one for the run's failed
captures: their manifests are evidence too, a 404 above all, and are sealed as soon).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from witnessbox_airflow import collection
from witnessbox_airflow.kinds import POOLS, queue_for, schedule_for

#: What every witnessbox DAG shares: no backfill of missed runs. Runs may overlap (a
#: source in retries never holds back the next tick); a per-source lock keeps one capture
#: of a source at a time.
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "max_active_runs": 3,
}
run_context = collection.run_context  # the custody DAGs share it


def collection_dag(kind: str, schedule: timedelta | None = None) -> Any:
    pool = POOLS[kind][0]
    asset = collection.captures_asset(kind)

    @dag(
        dag_id=f"witnessbox_{kind}",
        schedule=schedule or schedule_for(kind),
        **DAG_DEFAULTS,
        tags=["witnessbox", kind],
        params={
            "source": Param(None, type=["null", "string"], description="capture this source now"),
            "all": Param(False, type="boolean", description="capture every active source now"),
        },
        doc_md=(
            f"Collect every due **{kind}** source of the witnessbox watchlist once. Trigger "
            'with `{"source": "ID"}` or `{"all": true}` to capture now.'
        ),
    )
    def collection_run() -> None:
        @task(task_id="due_sources")
        def due() -> list[dict[str, Any]]:
            conf = get_current_context()["params"]
            return collection.pick_sources(kind, dict(conf))

        @task(
            task_id="capture",
            pool=pool,
            queue=queue_for(kind),  # Celery: only workers listening on it take the capture
            retries=2,
            retry_delay=timedelta(seconds=30),
            retry_exponential_backoff=2.0,
            max_retry_delay=timedelta(minutes=15),
            execution_timeout=timedelta(hours=2),
            map_index_template="{{ task.op_kwargs['entry']['label'] }}",
            outlets=[asset],
        )
        def capture(entry: dict[str, Any]) -> dict[str, Any]:
            return collection.capture_one(entry, asset)

        @task(task_id="record", trigger_rule="all_done")
        def record(picked: list[dict[str, Any]], results: list[Any]) -> dict[str, Any]:
            return collection.summarise(list(picked), list(results))

        @task(task_id="announce_failed", outlets=[asset])
        def announce_failed(summary: dict[str, Any]) -> None:
            collection.announce_failed(summary, asset)

        @task(task_id="check")
        def check(summary: dict[str, Any]) -> None:
            collection.check(summary)

        picked = due()
        summary = record(picked, capture.expand(entry=picked))
        announce_failed(summary)
        check(summary)

    return collection_run()
