"""The watch page of a video, captured as a WARC by the web collector when one is installed.

The page holds what the media does not: the description as shown, the view counts, the
comments and the context around the player. Capturing it is the web collector's job; this
module only lends it a sub-directory of the staging area and prefixes the names it stages.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from collectors.base import CollectContext, SourceRef, StagedArtifact, check_artifact_name
from preservation.errors import InputError, WitnessboxError


def capture_watch_page(
    url: str, source: SourceRef, ctx: CollectContext, prefix: str
) -> tuple[list[StagedArtifact], dict[str, object]]:
    """Artifacts of the page capture (names under ``<prefix>/watch-page/``) and what happened."""
    from collectors.registry import get_collector

    try:
        web = get_collector("web")
    except InputError as exc:
        return [], {"status": "skipped", "reason": str(exc)}
    directory = Path(ctx.staging) / prefix / "watch-page"
    directory.mkdir(parents=True, exist_ok=True)
    sub_ctx = dataclasses.replace(ctx, staging=directory)
    page_source = SourceRef(source.id, "web", url, {}, source.case, source.tags)
    try:
        result = web.collect(page_source, sub_ctx)
    except WitnessboxError as exc:
        return [], {"status": "failed", "reason": str(exc)}
    except Exception as exc:  # the page is a bonus: its failure must not cost the video
        return [], {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    base = f"{prefix}/watch-page/"
    artifacts = [
        dataclasses.replace(
            a,
            name=check_artifact_name(base + a.name),
            derived_from=check_artifact_name(base + a.derived_from) if a.derived_from else None,
        )
        for a in result.artifacts
    ]
    facts: dict[str, object] = {
        "status": result.status,
        "reasons": list(result.reasons),
        "collector": getattr(web, "name", "web"),
        "version": getattr(web, "version", ""),
        "network": result.network,
    }
    return artifacts, facts
