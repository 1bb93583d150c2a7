"""Per-kind Airflow facts (pool, DAG tick) without importing Airflow, read from the collectors.

The launcher (``make airflow``) and the DAG factory both read these, so the pools it
creates are the pools the tasks ask for. Each collector declares its pool, slots and DAG
tick (``collectors.base.Collector``); nothing here repeats them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


def queue_for(kind: str, env: Mapping[str, str] | None = None) -> str:
    """The Celery queue of ``kind``'s capture tasks (``WITNESSBOX_QUEUE_<KIND>`` overrides).

    A worker takes a kind's captures only if it listens on that queue, so Telegram captures
    go only to the workers that hold the Telegram session; the DAGs' other tasks use
    Airflow's default queue. Read when the DAG is parsed; other executors ignore it.
    """
    env = os.environ if env is None else env
    return env.get(f"WITNESSBOX_QUEUE_{kind.upper()}") or f"witnessbox_{kind}"
