"""One capture of one video source: listing, downloads, backoff and the resulting record.

``VideoCollector.collect`` opens the yt-dlp session and hands it here; this module is
imported only when a video capture runs (it pulls in yt-dlp).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from collectors.base import (
    CollectContext,
    CollectedCapture,
    ItemResult,
    SourceRef,
    StagedArtifact,
)
from collectors.run import CollectorRun
from collectors.video.failures import Failure, classify
from collectors.video.files import artifact_name, item_token, scrub, write_json
from collectors.video.item import ItemOutcome, capture_item, extract
from collectors.video.listing import Entry, Plan, entries_from, plan_entries
from collectors.video.options import VideoOptions
from collectors.video.session import SeenArchive, YtdlpSession
from collectors.video.watchpage import WatchPages

MAX_BACKOFF_SECONDS = 300.0
DEFER_AFTER_429 = timedelta(minutes=30)
MAX_REASONS = 20
_GONE = ("removed", "not-found")


class VideoRun(CollectorRun):
    """One capture of one video source: listing, downloads, and the resulting record."""

    def __init__(
        self,
        sleep: Any,
        source: SourceRef,
        ctx: CollectContext,
        options: VideoOptions,
        session: YtdlpSession,
        pages: WatchPages,
    ) -> None:
        self.sleep = sleep
        self.pages = pages
        self.source = source
        self.ctx = ctx
        self.options = options
        self.session = session
        self.staging = Path(ctx.staging)
        CollectorRun.__init__(self, max_reasons=MAX_REASONS)

    # -- helpers -----------------------------------------------------------------------------
    def _wait_for(self, failure: Failure, delay: float) -> float:
        wait = min(MAX_BACKOFF_SECONDS, max(delay, failure.retry_after or 0.0))
        self.ctx.progress(f"rate limited (HTTP 429): waiting {wait:.1f}s")
        self.sleep(wait)
        return delay * 4

    def _defer(self, failure: Failure) -> None:
        self.defer(max(DEFER_AFTER_429, timedelta(seconds=failure.retry_after or 0)))

    def list_source(self) -> tuple[dict[str, Any] | None, Failure | None]:
        """The source resolved without downloading: a video, or a flat playlist listing."""
        ydl = self.session.ydl
        listing_archive, ydl.archive = ydl.archive, SeenArchive()  # list everything
        delay = self.options.backoff_seconds
        try:
            for attempt in range(self.options.backoff_retries + 1):
                refused = len(self.session.guard.refused)
                try:
                    return extract(self.session, self.source.url), None
                except Exception as exc:
                    failure = classify(exc, self.session.guard.refused[refused:])
                    if failure.kind != "rate-limited" or attempt == self.options.backoff_retries:
                        return None, failure
                    delay = self._wait_for(failure, delay)
            return None, Failure("error", "unreachable")  # pragma: no cover
        finally:
            ydl.archive = listing_archive

    def capture(
        self, target: str | dict[str, Any], info: dict[str, Any] | None = None, **kw: Any
    ) -> ItemOutcome:
        """One item, with backoff on HTTP 429; a retried item starts from an empty directory."""
        delay = self.options.backoff_seconds
        for attempt in range(self.options.backoff_retries + 1):
            outcome = capture_item(self.session, self.staging, target, info=info, **kw)
            failure = outcome.failure
            if failure is None or failure.kind != "rate-limited":
                break
            if attempt == self.options.backoff_retries:
                self._defer(failure)
                break
            if outcome.item_id:
                shutil.rmtree(self.staging / item_token(outcome.item_id), ignore_errors=True)
            delay = self._wait_for(failure, delay)
            info = None  # extract again: signed media URLs may have expired meanwhile
        if self.options.watch_page and outcome.item_id and outcome.facts.get("webpage_url"):
            pages, facts = self.pages.capture(
                outcome.facts["webpage_url"], self.source, self.ctx, item_token(outcome.item_id)
            )
            outcome.artifacts.extend(pages)
            outcome.facts["watch_page"] = facts
        elif self.options.watch_page:
            outcome.facts["watch_page"] = {"status": "skipped", "reason": "no watch page URL"}
        return outcome

    def base_platform(self) -> dict[str, Any]:
        from yt_dlp.version import RELEASE_GIT_HEAD, __version__

        try:
            from yt_dlp.update import current_git_head

            git_head = current_git_head()
        except Exception:  # only informative
            git_head = None
        headers = dict(self.session.ydl.params.get("http_headers") or {})
        return {
            "source_url": self.source.url,
            "ytdlp": {
                "version": __version__,
                "release_git_head": RELEASE_GIT_HEAD,
                "current_git_head": git_head,
            },
            "http_headers": scrub(headers),
            "options": self.options.public(),
        }

    def network(self) -> dict[str, Any]:
        return {
            "hosts": dict(self.session.guard.hosts),
            "refused": list(self.session.guard.refused),
        }

    def result(self, status: str, reasons: list[str], **kw: Any) -> CollectedCapture:
        return self.collected(status, reasons, network=self.network(), **kw)

    # -- the run -------------------------------------------------------------------------------
    def execute(self) -> CollectedCapture:
        self.ctx.progress(f"video: resolving {self.source.url}")
        info, failure = self.list_source()
        platform = self.base_platform()
        if failure is not None:
            return self.unavailable(failure, platform)
        assert info is not None
        if info.get("_type") in ("playlist", "multi_video"):
            return self.playlist(info, platform)
        return self.single(info, platform)

    def unavailable(self, failure: Failure, platform: dict[str, Any]) -> CollectedCapture:
        """Nothing could be resolved. A video captured before and now gone is recorded as such."""
        if failure.kind == "rate-limited":
            self._defer(failure)
        items: list[ItemResult] = []
        previous = self.ctx.cursor.get("video_id") if self.ctx.cursor else None
        if previous:
            status = "deleted" if failure.kind in _GONE else "failed"
            items.append(ItemResult(str(previous), status, str(failure)))
        platform["failure"] = {"kind": failure.kind, "http_status": failure.http_status}
        return self.result(
            "failed",
            [str(failure)],
            platform=platform,
            items=items,
            cursor=dict(self.ctx.cursor) if self.ctx.cursor else None,
        )

    def single(self, info: dict[str, Any], platform: dict[str, Any]) -> CollectedCapture:
        video_id = str(info.get("id") or "")
        captured_before = bool(video_id) and video_id in self.ctx.seen.captured_ids()
        metadata_only = captured_before and not self.options.refetch
        if self.options.refetch and video_id:
            self.session.archive.discard(video_id)
        outcome = self.capture(self.source.url, info, metadata_only=metadata_only)
        platform.update({"kind": "video", **outcome.facts})
        reasons: list[str] = []
        items: list[ItemResult] = []
        if metadata_only and outcome.failure is None:
            platform["media"] = "captured before: metadata refreshed, media not downloaded again"
            status = "complete"
        else:
            result = outcome.item_result(self.session.ydl.params.get("max_filesize"))
            if result is not None:
                items.append(result)
            status, reasons = _item_status(outcome)
        cursor = {
            "video_id": outcome.item_id or video_id,
            "extractor": outcome.facts.get("extractor"),
        }
        return self.result(
            status,
            reasons,
            artifacts=outcome.artifacts,
            platform=platform,
            items=items,
            cursor=cursor,
        )

    def playlist(self, info: dict[str, Any], platform: dict[str, Any]) -> CollectedCapture:
        entries = entries_from(info)
        max_filesize = self.session.ydl.params.get("max_filesize")
        plan = plan_entries(
            entries,
            self.ctx.seen,
            max_entries=self.options.max_entries,
            max_retries=self.options.max_retries,
            max_attempts=self.options.max_attempts,
            listing=self.options.listing,
            max_filesize=max_filesize,
        )
        artifacts = [self.write_listing(info, entries)]
        items: list[ItemResult] = []
        reasons: list[str] = []
        summaries: list[dict[str, Any]] = []
        captured = failed = 0
        stopped: Failure | None = None
        for entry in plan.selected:
            if stopped is not None:
                break
            self.ctx.progress(f"video: entry {entry.id}")
            outcome = self.capture(entry.info, None, known_id=entry.id)
            artifacts.extend(outcome.artifacts)
            result = outcome.item_result(max_filesize) or ItemResult(entry.id, "failed", "no id")
            if result.id != entry.id:  # the listing's id is what the catalogue keys on
                result.data["resolved_id"] = result.id
                result.id = entry.id
            items.append(result)
            summaries.append(_entry_summary(entry, outcome, result))
            if result.status == "captured":
                captured += 1
            elif result.status == "failed":
                failed += 1
                reasons.append(f"entry {entry.id}: {result.error}")
            if outcome.failure is not None and outcome.failure.kind == "rate-limited":
                stopped = outcome.failure
        attempted = len(items)
        if stopped is not None:
            reasons.append(
                f"rate limited (HTTP 429): stopped after {attempted} of {len(plan.selected)} "
                "entries; the rest are tried on a later run"
            )
        platform.update(
            {
                "kind": "playlist",
                **_playlist_facts(info),
                "listing": _plan_facts(plan),
                "entries": summaries,
            }
        )
        if failed and not captured:
            status = "failed"
        elif failed or stopped is not None:
            status = "partial"
        else:
            status = "complete"
        cursor = {
            "playlist_id": info.get("id"),
            "listed": plan.listed,
            "backfill_complete": plan.backfill_complete and stopped is None,
            "pending_new": plan.deferred_new + (len(plan.selected) - attempted),
        }
        return self.result(
            status, reasons, artifacts=artifacts, platform=platform, items=items, cursor=cursor
        )

    def write_listing(self, info: dict[str, Any], entries: list[Entry]) -> StagedArtifact:
        """The playlist as listed now, entries included: what was there, in which order."""
        raw = scrub(self.session.ydl.sanitize_info(dict(info), remove_private_keys=True))
        raw["entries"] = [
            scrub(self.session.ydl.sanitize_info(dict(e.info), remove_private_keys=True))
            for e in entries
        ]
        path = self.staging / "playlist.info.json"
        write_json(path, raw)
        return StagedArtifact(
            artifact_name(self.staging, path),
            "info-json",
            "application/json",
            platform={k: info.get(k) for k in ("id", "extractor", "webpage_url")},
        )


def _item_status(outcome: ItemOutcome) -> tuple[str, list[str]]:
    if outcome.failure is not None:
        return ("partial" if outcome.has_media else "failed"), [str(outcome.failure)]
    if outcome.skipped:
        return "partial", [f"media not downloaded: {outcome.skipped}"]
    if outcome.problems:
        return "partial", [f"corrupt media: {p}" for p in outcome.problems]
    return "complete", []


def _entry_summary(entry: Entry, outcome: ItemOutcome, result: ItemResult) -> dict[str, Any]:
    facts = outcome.facts
    summary: dict[str, Any] = {
        "id": entry.id,
        "status": result.status,
        "directory": item_token(outcome.item_id or entry.id),
        "artifacts": len(outcome.artifacts),
    }
    for key in (
        "extractor",
        "webpage_url",
        "uploader_id",
        "channel_id",
        "upload_date",
        "timestamp",
        "http_headers",
        "watch_page",
    ):
        if facts.get(key) is not None:
            summary[key] = facts[key]
    if result.error:
        summary["error"] = result.error
    return summary


def _playlist_facts(info: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "title",
        "extractor",
        "extractor_key",
        "webpage_url",
        "uploader",
        "uploader_id",
        "channel",
        "channel_id",
        "channel_url",
        "epoch",
    )
    return {k: info[k] for k in keys if info.get(k) is not None}


def _plan_facts(plan: Plan) -> dict[str, Any]:
    return {
        "order": plan.order,
        "listed": plan.listed,
        "already_captured": plan.known,
        "selected_new": [e.id for e in plan.new],
        "retried": [e.id for e in plan.retries],
        "deferred_new": plan.deferred_new,
        "deferred_retries": plan.deferred_retries,
        "given_up": plan.given_up,
        "skipped_too_large": plan.size_skipped,
        "no_longer_listed": plan.no_longer_listed[:100],
        "backfill_complete": plan.backfill_complete,
    }
