"""Retention check for ``verify``: every object is still locked as long as configured.

Object Lock is what keeps an archive write-once against someone holding the keys; an
object stored without it, in a weaker mode, or retained for less than ``retention_days``
after it was written is a gap in custody even when its bytes are intact. The expectation
per object is: mode at least the configured one (COMPLIANCE satisfies GOVERNANCE) and
retain-until no earlier than its last-modified time plus ``retention_days`` (less a small
slack for clocks). A store without Object Lock (the filesystem store, an unlocked bucket)
cannot be checked: the report says so instead of passing silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kernel.errors import Findings, Problem, StorageError
from preservation.store import ObjectInfo, Store

if TYPE_CHECKING:
    from kernel.settings import Settings

SLACK = timedelta(hours=1)
_STRENGTH = {"GOVERNANCE": 1, "COMPLIANCE": 2}


@dataclass
class RetentionReport(Findings):
    checked: int = 0
    skipped: str = ""  # why nothing was checked
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "skipped": self.skipped or None}


def object_problem(info: ObjectInfo, mode: str, days: int) -> Problem | None:
    """What is wrong with one object's retention, or None."""
    if info.retention_mode is None or info.retain_until is None:
        return Problem("no-retention", info.key, "stored without Object Lock retention")
    if _STRENGTH.get(info.retention_mode.upper(), 0) < _STRENGTH[mode]:
        return Problem(
            "weak-retention", info.key, f"mode {info.retention_mode}, configured {mode}"
        )
    if info.modified is not None:
        wanted = info.modified + timedelta(days=days)
        if info.retain_until + SLACK < wanted:
            return Problem(
                "short-retention",
                info.key,
                f"retained until {info.retain_until:%Y-%m-%d %H:%M}Z, configured "
                f"{days} day(s) from {info.modified:%Y-%m-%d %H:%M}Z",
            )
    return None


def check_retention(
    store: Store,
    settings: Settings,
    keys: Iterable[str],
    workers: int = 4,
    *,
    days: int | None = None,
    mode: str | None = None,
) -> RetentionReport:
    """Stat every key and compare its lock with the configured retention.

    ``days`` and ``mode`` default to the settings' (the primary's); a replica passes its own.
    """
    days = settings.retention_days if days is None else days
    mode = (mode or settings.retention_mode).upper()
    report = RetentionReport()
    if days <= 0:
        report.skipped = "retention is off (retention_days = 0)"
        return report
    if not store.supports_retention:
        report.skipped = f"{store.describe()} has no Object Lock: retention not enforced"
        return report

    def one(key: str) -> Problem | None:
        try:
            info = store.stat(key)
        except StorageError as exc:
            return Problem("unreadable", key, f"retention: {exc}")
        if info is None:
            return None  # a missing object is named by the fixity stages
        return object_problem(info, mode, days)

    unique = sorted(set(keys))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for problem in pool.map(one, unique):
            report.checked += 1
            if problem is not None:
                report.problems.append(problem)
    return report
