"""How captures and lists look to people: the CLI's tables and the facts the UI shows.

One place, so ``witnessbox show`` and the Captures page can never disagree about what a
capture is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kernel.ids import isoformat

#: The states a capture ends in (what listings filter on).
STATUSES: tuple[str, ...] = ("complete", "partial", "failed")
#: The one-line facts of a capture, in the order ``show`` and the UI print them.
CAPTURE_FACTS: tuple[str, ...] = (
    "id",
    "status",
    "url",
    "kind",
    "case",
    "started_at",
    "finished_at",
    "collector",
    "manifest_key",
    "manifest_sha256",
    "previous_capture_id",
)


def capture_dict(capture: Any, with_artifacts: bool = True) -> dict[str, Any]:
    data = {
        "id": capture.id,
        "source_id": capture.source_id,
        "url": capture.source_url,
        "kind": capture.kind,
        "case": capture.case_id,
        "status": capture.status,
        "reasons": list(capture.reasons or []),
        "started_at": isoformat(capture.started_at),
        "finished_at": isoformat(capture.finished_at),
        "collector": f"{capture.collector} {capture.collector_version}",
        "manifest_key": capture.manifest_key,
        "manifest_sha256": capture.manifest_sha256,
        "previous_capture_id": capture.previous_capture_id,
    }
    if with_artifacts:
        data["artifacts"] = [
            {
                "name": a.name,
                "role": a.role,
                "media_type": a.media_type,
                "size": a.size,
                "sha256": a.sha256,
                "sha512": a.sha512,
                "md5": a.md5,
                "derived_from": a.derived_from,
                "metadata": a.summary,
            }
            for a in capture.artifacts
        ]
    return data


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
