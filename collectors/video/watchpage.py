"""The watch page of a video, captured as a WARC by the web collector when one is installed.

The page holds what the media does not: the description as shown, the view counts, the
comments and the context around the player. Capturing it is the web collector's job; this
module only lends it a sub-directory of the staging area and prefixes the names it stages.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from collectors.base import CollectContext, SourceRef, StagedArtifact, check_artifact_name
from kernel.errors import InputError, WitnessboxError


class WatchPages:
    """Captures a run's watch pages with one web collector (one browser), closed at the end.

    A web collector holds a browser: made per page and never closed, a playlist with
    ``watch_page`` on would leave a browser behind for every entry.
    """

    def __init__(self) -> None:
        self._web: Any = None
        self._missing: str | None = None

    def __enter__(self) -> WatchPages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        web, self._web = self._web, None
        if web is not None and hasattr(web, "close"):
            web.close()

    def _collector(self) -> Any:
        if self._web is None and self._missing is None:
            from collectors.registry import get_collector

            try:
                self._web = get_collector("web")
            except InputError as exc:
                self._missing = str(exc)
        return self._web

    def capture(
        self, url: str, source: SourceRef, ctx: CollectContext, prefix: str
    ) -> tuple[list[StagedArtifact], dict[str, object]]:
        """Artifacts of the page capture (under ``<prefix>/watch-page/``) and what happened."""
        web = self._collector()
        if web is None:
            return [], {"status": "skipped", "reason": self._missing}
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
