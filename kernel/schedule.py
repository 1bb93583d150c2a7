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
#: One DAG tick for every kind (tests, the demo); each kind's own tick is its collector's
#: declaration (``collectors.registry.dag_interval``).
TICK_ENV = "WITNESSBOX_DAG_TICK_SECONDS"


def tick_override(environ: Mapping[str, str] | None = None) -> int | None:
    """``WITNESSBOX_DAG_TICK_SECONDS`` when set (checked), else ``None``."""
    raw = (os.environ if environ is None else environ).get(TICK_ENV, "").strip()
    if not raw:
        return None
    try:
        seconds = int(raw)
    except ValueError:
        raise InputError(f"{TICK_ENV} must be a whole number of seconds") from None
    if seconds < 10:
        raise InputError(f"{TICK_ENV} must be at least 10")
    return seconds


def tick_warning(kind: str, seconds: int, tick: int) -> str | None:
    """A warning when ``seconds`` is shorter than a DAG ticking every ``tick`` can honour."""
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
