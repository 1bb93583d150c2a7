"""Record that someone read evidence through the pages (custody ledger event ``accessed``).

STAND-IN until the replicas helper's ``preservation.custody.access.record_access`` is on
main (same arguments); then this module calls it and keeps no logic of its own.
"""

from __future__ import annotations

from typing import Any

from preservation.custody.ledger import ledger_for


def record_access_standin(
    rt: Any, actor: str, capture_id: str, artifact: str, reason: str, kind: str = "accessed"
) -> dict[str, Any]:
    """Append one ledger entry naming who read which artifact of which capture, and why."""
    return ledger_for(rt).append(
        kind, capture_id, actor, {"artifact": artifact, "reason": reason}, rt.clock()
    )


record_access = record_access_standin
