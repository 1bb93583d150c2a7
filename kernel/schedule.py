"""Schedules such as ``30m``, ``6h``, ``1d`` or ``1h30m``, stored as seconds."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from kernel.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
MIN_INTERVAL = 60
MAX_INTERVAL = 366 * 86400
DEFAULT_BY_KIND = {"web": 86400, "video": 6 * 3600, "telegram": 3600}
#: How often each kind's Airflow DAG looks for due sources: a source cannot be captured
#: more often than its DAG ticks, so ``watch add`` warns about a shorter ``--every``.
DAG_TICK_BY_KIND = {"web": 300, "video": 600, "telegram": 300}
TICK_ENV = "WITNESSBOX_DAG_TICK_SECONDS"


def dag_tick_seconds(kind: str, environ: Mapping[str, str] | None = None) -> int:
    """The DAG tick of ``kind``; ``WITNESSBOX_DAG_TICK_SECONDS`` sets one tick for all."""
    raw = (os.environ if environ is None else environ).get(TICK_ENV, "").strip()
    if raw:
        try:
            seconds = int(raw)
        except ValueError:
            raise InputError(f"{TICK_ENV} must be a whole number of seconds") from None
        if seconds < 10:
            raise InputError(f"{TICK_ENV} must be at least 10")
        return seconds
    return DAG_TICK_BY_KIND[kind]


def tick_warning(kind: str, seconds: int, environ: Mapping[str, str] | None = None) -> str | None:
    """A warning when ``seconds`` is shorter than what the scheduler can honour."""
    tick = dag_tick_seconds(kind, environ)
    if seconds >= tick:
        return None
    return (
        f"every {format_interval(seconds)} is shorter than the witnessbox_{kind} DAG's tick "
        f"({format_interval(tick)}): under Airflow it is captured at most every "
        f"{format_interval(tick)}"
    )


def parse_interval(text: str) -> int:
    spec = text.strip().lower().replace(" ", "")
    if not spec or _PART.sub("", spec):
        raise InputError(f"bad schedule {text!r}: use forms like 30m, 6h, 1d, 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(spec))
    if seconds < MIN_INTERVAL:
        raise InputError(f"schedule {text!r} is shorter than one minute")
    if seconds > MAX_INTERVAL:
        raise InputError(f"schedule {text!r} is longer than a year")
    return seconds


def format_interval(seconds: int) -> str:
    out = []
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"
