"""Per-kind Airflow facts (pool, DAG tick) without importing Airflow, read from the collectors.

The launcher (``make airflow``) and the DAG factory both read these, so the pools it
creates are the pools the tasks ask for. Each collector declares its pool, slots and DAG
tick (``collectors.base.Collector``); nothing here repeats them.
"""

from __future__ import annotations

from datetime import timedelta

from collectors import registry

KINDS: tuple[str, ...] = registry.KINDS
#: kind -> (pool name, slots, description): one Telegram account is one slot.
POOLS: dict[str, tuple[str, int, str]] = {
    kind: (*registry.pool(kind), registry.collector_class(kind).pool_note) for kind in KINDS
}


def schedule_for(kind: str) -> timedelta:
    """The tick of ``kind``'s collection DAG (``WITNESSBOX_DAG_TICK_SECONDS`` overrides)."""
    return timedelta(seconds=registry.dag_interval(kind))
