"""api mode: a Telegram account reads a channel through Telethon, incrementally by message id.

One run:

1. resolve the channel, capture its metadata (``channel.json``) and current photo;
2. page through new history (``min_id=last_id``, oldest first, one request per 100
   messages), writing one ``messages/new-*.json`` batch per page and each message's media;
   an album (one ``grouped_id``) is never split: a page's trailing album waits for the next
   page, or for the next run when this one stops;
3. retry media that failed in an earlier run (the cursor lists them);
4. re-check a window of known messages for edits and deletions (``api_recheck``).

Flood waits up to ``flood_sleep_max`` seconds are slept (within ``flood_sleep_budget`` per
run); a longer one stops the run cleanly: what was fetched is kept, the cursor points at the
last message written, and ``retry_after`` tells the scheduler when to come back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from collectors.base import CollectContext, CollectedCapture, SourceRef
from collectors.telegram.api_recheck import IDS_PER_REQUEST, Recheck
from collectors.telegram.client import (
    FileReferenceExpired,
    FloodWait,
    MediaTooLarge,
    TelegramPort,
    translate,
)
from collectors.telegram.lock import AccountBusy, account_lock
from collectors.telegram.normalise import channel_record, iso, media_plan, message_record
from collectors.telegram.options import TelegramOptions
from collectors.telegram.run import TelegramRun
from collectors.telegram.staging import Staging
from kernel.errors import CollectionError
from kernel.ids import utcnow

SCHEMA = "witnessbox.telegram.messages/1"
MEDIA_RETRY_LIMIT = 500  # ids remembered in the cursor for a later media retry
FILE_REFERENCE_RETRIES = 2


class FloodStop(Exception):
    """A flood wait too long to sleep: stop this run and come back later."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"Telegram flood wait of {seconds} s")
        self.seconds = seconds


@dataclass
class Counters:
    new: int = 0
    edited: int = 0
    deleted: int = 0
    rechecked: int = 0
    media_downloaded: int = 0
    media_skipped: int = 0
    media_deferred: int = 0
    slept: float = 0.0


@dataclass
class ApiRun(Recheck, TelegramRun):
    source: SourceRef
    ctx: CollectContext
    opts: TelegramOptions
    port: TelegramPort
    username: str
    sleep: Callable[[float], None] = time.sleep
    staging: Staging = field(init=False)
    counters: Counters = field(default_factory=Counters)
    channel: Any = None
    last_id: int = 0
    fetched_ids: set[int] = field(default_factory=set)
    media_retry: dict[int, int] = field(default_factory=dict)  # message id -> attempts so far
    flood: FloodStop | None = None
    mode: ClassVar[str] = "api"
    schema: ClassVar[str] = SCHEMA

    # -- helpers -------------------------------------------------------------------------------
    def call(
        self, fn: Callable[..., Any], *args: Any, reset: Callable[[], None] | None = None
    ) -> Any:
        """One port call, sleeping through short flood waits; longer ones raise ``FloodStop``."""
        while True:
            try:
                return fn(*args)
            except Exception as exc:
                err = translate(exc)
                if isinstance(err, FloodWait):
                    budget_left = self.opts.flood_sleep_budget - self.counters.slept
                    if err.seconds <= min(self.opts.flood_sleep_max, budget_left):
                        self.ctx.log.info("flood wait: sleeping %s s", err.seconds)
                        self.counters.slept += err.seconds
                        self.sleep(err.seconds)
                        if reset is not None:
                            reset()
                        continue
                    raise FloodStop(err.seconds) from None
                if err is exc:
                    raise
                raise err from None

    def channel_header(self) -> dict[str, Any]:
        return {"id": self.channel.id, "username": getattr(self.channel, "username", None)}

    def channel_platform(self) -> dict[str, Any]:
        return {"channel_id": self.channel.id}

    # -- channel ---------------------------------------------------------------------------------
    def capture_channel(self) -> None:
        self.channel = self.call(self.port.resolve, self.username)
        known = (self.ctx.cursor or {}).get("channel_id")
        if known is not None and int(known) != self.channel.id:
            raise CollectionError(
                f"@{self.username} now names a different channel (id {self.channel.id}, was "
                f"{known}): watch it as a new source so the two are never mixed"
            )
        full = self.call(self.port.full_channel, self.channel)
        record = channel_record(self.channel, full)
        record["observed_at"] = iso(self.now())
        record["mode"] = "api"
        self.staging.write_json(
            "channel.json", record, "channel-json", {"channel_id": self.channel.id}
        )
        photo_id = record.get("photo_id")
        if photo_id is not None:
            name = f"channel/photo-{photo_id if photo_id >= 0 else f'n{-photo_id}'}.jpg"
            try:
                with self.staging.media(
                    name, "image/jpeg", self.opts.max_media_bytes, {"channel_id": self.channel.id}
                ) as out:
                    self.call(self.port.download_profile_photo, self.channel, out, reset=out.reset)
            except (MediaTooLarge, CollectionError, FileReferenceExpired) as exc:
                self.reasons.append(f"channel photo not captured: {exc}")

    # -- media -----------------------------------------------------------------------------------
    def defer_media(self, message_id: int, record: dict[str, Any], why: str) -> None:
        record["media_status"] = f"deferred: {why}"
        self.counters.media_deferred += 1
        self.media_retry[message_id] = self.media_retry.get(message_id, 0)

    def fetch_media(self, message: Any, record: dict[str, Any]) -> None:
        plan = media_plan(getattr(message, "media", None))
        if plan is None:
            return
        if plan.kind not in self.opts.media:
            record["media_status"] = f"not downloaded: {plan.kind} not selected for this source"
            self.counters.media_skipped += 1
            return
        if plan.size is not None and plan.size > self.opts.max_media_bytes:
            record["media_status"] = (
                f"not downloaded: {plan.size} bytes is over the {self.opts.max_media_bytes} limit"
            )
            self.counters.media_skipped += 1
            return
        if self.flood is not None:
            self.defer_media(message.id, record, "flood wait")
            return
        if self.staging.bytes + (plan.size or 0) > self.ctx.settings.max_capture_bytes:
            self.defer_media(message.id, record, "capture size budget reached")
            return
        name = plan.file_name(message.id)
        platform = {
            "channel_id": self.channel.id,
            "message_id": message.id,
            "media_id": plan.media_id,
            "kind": plan.kind,
            "grouped_id": getattr(message, "grouped_id", None),
        }
        for attempt in range(FILE_REFERENCE_RETRIES + 1):
            try:
                with self.staging.media(
                    name, plan.mime, self.opts.max_media_bytes, platform
                ) as out:
                    self.call(self.port.download_media, message, out, reset=out.reset)
                record["media_file"] = name
                record.pop("media_status", None)
                self.counters.media_downloaded += 1
                self.media_retry.pop(message.id, None)
                return
            except FileReferenceExpired:
                if attempt == FILE_REFERENCE_RETRIES:
                    self.defer_media(message.id, record, "file reference kept expiring")
                    return
                try:
                    fresh = self.call(self.port.messages, self.channel, [message.id])[0]
                except FloodStop as stop:
                    self.flood = stop
                    self.defer_media(message.id, record, "flood wait")
                    return
                if fresh is None:
                    record["media_status"] = (
                        "lost: the message was deleted before its media was fetched"
                    )
                    self.reasons.append(
                        f"message {message.id}: deleted before its media was fetched"
                    )
                    return
                message = fresh
                record["media_refetched"] = True
            except MediaTooLarge as exc:
                record["media_status"] = f"not downloaded: {exc}"
                self.counters.media_skipped += 1
                return
            except FloodStop as stop:
                self.flood = stop
                self.defer_media(message.id, record, "flood wait")
                return
            except CollectionError as exc:
                self.defer_media(message.id, record, str(exc))
                return

    # -- new messages ---------------------------------------------------------------------------
    def item_data(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        return {
            "mode": "api",
            "date": record["date"],
            "edit_date": record["edit_date"],
            "fingerprint": record["fingerprint"],
            "grouped_id": record["grouped_id"],
            "media_id": (record.get("media") or {}).get("id"),
            "version": version,
        }

    def store_new(self, messages: list[Any]) -> None:
        records = []
        for message in messages:
            record = message_record(message)
            record["version"] = 1
            self.fetch_media(message, record)
            records.append(record)
            self.item(message.id, "captured", **self.item_data(record, 1))
            self.fetched_ids.add(message.id)
        self.write_batch("new", records)
        self.last_id = max(self.last_id, *(m.id for m in messages))
        self.counters.new += len(messages)
        self.ctx.progress(f"@{self.username}: {self.counters.new} new messages")

    def fetch_new(self) -> None:
        after = self.last_id
        carried: list[Any] = []  # a trailing album waiting for the rest of its messages
        fetched = 0
        while fetched < self.opts.max_messages and self.flood is None:
            page = self.call(self.port.history, self.channel, after, self.opts.page_size)
            page = sorted((m for m in page if m.id > after), key=lambda m: m.id)
            if not page:
                break
            after = page[-1].id
            fetched += len(page)
            full_page = len(page) >= self.opts.page_size
            batch = carried + page
            carried = []
            if full_page:
                batch, carried = split_trailing_album(batch)
            if batch:
                self.store_new(batch)
            if not full_page:
                break
        if carried:  # stopped mid-album: the next run fetches it whole
            self.ctx.log.info("album %s continues next run", carried[0].grouped_id)

    # -- media retry -----------------------------------------------------------------------------
    def load_media_retry(self, pending: list[dict[str, Any]]) -> None:
        """Carry the media still owed from earlier runs (kept even if this run stops early)."""
        for entry in pending:
            message_id, attempts = int(entry["id"]), int(entry.get("attempts", 0))
            if attempts < self.opts.media_retry_attempts:
                self.media_retry[message_id] = attempts
            else:
                self.reasons.append(
                    f"message {message_id}: media not captured after {attempts} runs"
                )

    def retry_media(self) -> None:
        ids = sorted(self.media_retry)
        records: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_REQUEST):
            if self.flood is not None:
                break
            chunk = ids[start : start + IDS_PER_REQUEST]
            found = self.call(self.port.messages, self.channel, chunk)
            for message_id, message in zip(chunk, found, strict=False):
                if message is None:
                    self.media_retry.pop(message_id, None)
                    self.reasons.append(
                        f"message {message_id}: deleted before its media was fetched"
                    )
                    continue
                record = message_record(message)
                self.media_retry[message_id] += 1
                self.fetch_media(message, record)
                if record.get("media_file"):
                    records.append(record)
                    self.item(message_id, "captured", media_file=record["media_file"])
        self.write_batch("media-retry", records)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> CollectedCapture:
        cursor = dict(self.ctx.cursor or {})
        self.last_id = int(cursor.get("last_id", 0) or 0)
        started_at = self.last_id
        self.load_media_retry(list(cursor.get("media_retry") or []))
        try:
            self.capture_channel()
        except FloodStop as stop:
            return CollectedCapture(
                "failed",
                [f"{stop} before anything was fetched: resume after it"],
                retry_after=self.now() + timedelta(seconds=stop.seconds),
            )
        try:
            self.fetch_new()
            if self.flood is None:
                self.retry_media()
            if self.flood is None:
                self.recheck()
        except FloodStop as stop:
            self.flood = stop
        except CollectionError as exc:  # e.g. the channel went private mid-run: keep what we have
            self.reasons.append(str(exc))
        return self.result(started_at)

    def result(self, started_at: int) -> CollectedCapture:
        status = "complete"
        reasons = list(self.reasons)
        retry_after = None
        if self.flood is not None:
            status = "partial"
            retry_after = self.now() + timedelta(seconds=self.flood.seconds)
            reasons.insert(
                0,
                f"{self.flood}: stopped after message {self.last_id}; "
                f"resume after {iso(retry_after)}",
            )
        if self.counters.media_deferred:
            status = "partial"
            reasons.append(f"{self.counters.media_deferred} media file(s) deferred to a later run")
        if reasons and status == "complete":
            status = "partial"
        cursor = {
            "mode": "api",
            "last_id": self.last_id,
            "channel_id": self.channel.id,
            "media_retry": [
                {"id": i, "attempts": n}
                for i, n in sorted(self.media_retry.items())[-MEDIA_RETRY_LIMIT:]
            ],
        }
        c = self.counters
        platform = {
            "platform": "telegram",
            "mode": "api",
            "channel": {
                "id": self.channel.id,
                "username": getattr(self.channel, "username", None),
                "title": getattr(self.channel, "title", None),
            },
            "messages": {
                "after_id": started_at,
                "last_id": self.last_id,
                "new": c.new,
                "rechecked": c.rechecked,
                "edited": c.edited,
                "deleted": c.deleted,
            },
            "media": {
                "downloaded": c.media_downloaded,
                "skipped": c.media_skipped,
                "deferred": c.media_deferred,
            },
            "flood_slept_seconds": c.slept,
        }
        return self.collected(
            status, reasons, platform=platform, cursor=cursor, retry_after=retry_after
        )


def split_trailing_album(messages: list[Any]) -> tuple[list[Any], list[Any]]:
    """(messages to store now, a trailing album that may continue on the next page)."""
    if not messages:
        return messages, []
    group = getattr(messages[-1], "grouped_id", None)
    if group is None:
        return messages, []
    cut = len(messages)
    while cut > 0 and getattr(messages[cut - 1], "grouped_id", None) == group:
        cut -= 1
    return messages[:cut], messages[cut:]


def collect_api(
    source: SourceRef,
    ctx: CollectContext,
    opts: TelegramOptions,
    username: str,
    connect: Callable[[Any], TelegramPort],
    sleep: Callable[[float], None] = time.sleep,
) -> CollectedCapture:
    """Run api mode under the account lock; the port is connected and closed here."""
    try:
        with account_lock(ctx.settings.home, opts.lock_wait, sleep=sleep):
            port = connect(ctx.settings)
            try:
                return ApiRun(source, ctx, opts, port, username, sleep=sleep).run()
            finally:
                port.close()
    except AccountBusy as exc:
        now = ctx.clock() if ctx.clock else utcnow()
        return CollectedCapture("failed", [str(exc)], retry_after=now + timedelta(minutes=5))
