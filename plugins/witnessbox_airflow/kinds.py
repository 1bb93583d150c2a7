"""Per-kind Airflow facts (pool, DAG tick) without importing Airflow.

The launcher (``make airflow``) and the DAG factory both read these, so the pools it
creates are the pools the tasks ask for. How often each kind's DAG ticks bounds the
shortest ``--every`` that means what it says (``kernel.schedule.DAG_TICK_BY_KIND``).
"""

from __future__ import annotations

from datetime import timedelta

from kernel.schedule import DAG_TICK_BY_KIND, dag_tick_seconds

#: Pools bound per-platform concurrency: one Telegram account is one slot.
POOLS: dict[str, tuple[str, int, str]] = {
    "web": ("witnessbox_web", 2, "browser captures"),
    "video": ("witnessbox_video", 2, "video downloads"),
    "telegram": ("witnessbox_telegram", 1, "one Telegram account = one slot"),
}
KINDS: tuple[str, ...] = tuple(DAG_TICK_BY_KIND)


def schedule_for(kind: str) -> timedelta:
    """The tick of ``kind``'s collection DAG (``WITNESSBOX_DAG_TICK_SECONDS`` overrides)."""
    return timedelta(seconds=dag_tick_seconds(kind))
