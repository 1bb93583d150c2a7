"""Schedules such as ``30m``, ``6h``, ``1d`` or ``1h30m``, stored as seconds."""

from __future__ import annotations

import re

from kernel.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
MIN_INTERVAL = 60
MAX_INTERVAL = 366 * 86400


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
