"""preview mode: the public web preview ``<preview_url><name>``, no Telegram account needed.

The newest posts are on the first page; ``?before=ID`` pages back in time. A run fetches at
most ``preview_max_pages`` pages, newest first, and records what it could not reach yet as
*gaps* in the cursor, filled by later runs (newest gap first)::

    cursor = {"mode": "preview", "newest_id": 980, "gaps": [[0, 901]], "last_id": 0}

means every post in 901..980 is captured and ids 1..900 are still to fetch (``last_id`` is
the contiguous watermark every mode understands: everything up to it is captured). Posts
already captured that reappear on a fetched page are compared with what was stored: a
changed text is kept as a new version; a post missing from the middle of a fresh first page
is recorded as deleted. Every page and media file fetched is written to ``preview.warc.gz``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from collectors.base import CollectContext, CollectedCapture, SourceRef
from collectors.telegram.fetch import Response, TooLarge, WarcFetcher, fetch_text
from collectors.telegram.normalise import content_hash, iso
from collectors.telegram.options import TelegramOptions
from collectors.telegram.preview_html import PreviewPage, PreviewPost, parse_preview_page
from collectors.telegram.run import TelegramRun
from collectors.telegram.staging import Staging
from kernel.errors import CollectionError, PolicyError, WitnessboxError

SCHEMA = "witnessbox.telegram.preview/1"
WARC_NAME = "preview.warc.gz"
_EXT = re.compile(r"\.([a-z0-9]{2,5})$")
_DEFAULT_EXT = {"photo": "jpg", "video": "mp4", "voice": "ogg"}
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,127}$")


class RateLimited(CollectionError):
    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds


def preview_url(settings_url: str, username: str) -> str:
    base = settings_url if settings_url.endswith("/") else settings_url + "/"
    return base + username


def post_record(post: PreviewPost) -> dict[str, Any]:
    record = {
        "id": post.id,
        "url": f"https://t.me/{post.channel}/{post.id}",
        "date": post.date,
        "edited": post.edited,
        "text": post.text,
        "links": post.links,
        "views": post.views,
        "views_raw": post.views_raw,
        "post_author": post.post_author,
        "fwd_from": post.fwd_from,
        "reply_to": post.reply_to,
        "album": post.album,
        "service": post.service,
        "unsupported": post.unsupported,
        "media": [dict(m) for m in post.media],
    }
    record["fingerprint"] = content_hash(
        {
            "text": post.text,
            "links": post.links,
            "media": [m["kind"] for m in post.media],
            "fwd_from": post.fwd_from,
            "reply_to": (post.reply_to or {}).get("msg_id"),
            "post_author": post.post_author,
        }
    )
    return record


@dataclass
class Walk:
    """One walk back through pages: what it saw and whether it reached its lower bound."""

    posts: dict[int, PreviewPost] = field(default_factory=dict)
    oldest: int | None = None
    reached: bool = False


@dataclass
class PreviewRun(TelegramRun):
    source: SourceRef
    ctx: CollectContext
    opts: TelegramOptions
    username: str
    staging: Staging = field(init=False)
    fetcher: WarcFetcher = field(init=False)
    pages: int = 0
    media_downloaded: int = 0
    channel: dict[str, Any] = field(default_factory=dict)
    captured: set[int] = field(default_factory=set)
    edited: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    stop: WitnessboxError | None = None
    mode: ClassVar[str] = "preview"
    schema: ClassVar[str] = SCHEMA
    batch_prefix: ClassVar[str] = "preview-"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.base = preview_url(self.ctx.settings.telegram_preview_url, self.username)

    def channel_header(self) -> dict[str, Any]:
        return {"username": self.username}

    def channel_platform(self) -> dict[str, Any]:
        return {"channel": self.username}

    def batch_extra(self) -> dict[str, Any]:
        return {"source_page": self.base}

    # -- fetching -------------------------------------------------------------------------------
    def fetch_page(self, before: int | None) -> PreviewPage:
        url = self.base if before is None else f"{self.base}?before={before}"
        self.pages += 1
        self.ctx.progress(f"@{self.username}: preview page {self.pages}")
        response, html = fetch_text(self.fetcher, url, self.opts.preview_max_page_bytes)
        self.check_status(response, url)
        page = parse_preview_page(html, response.url)
        if not self.channel and page.channel:
            self.channel = dict(page.channel)
        if before is None and not page.posts and "tgme_channel_history" not in html:
            raise CollectionError(
                f"@{self.username} has no public preview (private, missing, or preview disabled)"
            )
        page.posts = [p for p in page.posts if p.channel in ("", self.username)]
        return page

    def check_status(self, response: Response, url: str) -> None:
        if response.status == 429:
            retry = response.header("retry-after") or ""
            raise RateLimited(
                f"{url}: rate limited (HTTP 429)", int(retry) if retry.isdigit() else 600
            )
        if urlsplit(response.url).path.rstrip("/") != urlsplit(self.base).path.rstrip("/"):
            raise CollectionError(
                f"@{self.username} has no public preview (private, missing, or preview "
                f"disabled: redirected to {response.url}, HTTP {response.status})"
            )
        if response.status >= 400:
            raise CollectionError(f"{url}: HTTP {response.status}")

    def walk(self, before: int | None, floor: int, budget: int) -> tuple[Walk, int]:
        """Pages from ``before`` back until an id ≤ ``floor`` shows, the start, or the budget."""
        walk = Walk()
        while budget > 0:
            try:
                page = self.fetch_page(before)
            except (CollectionError, PolicyError) as exc:
                if before is None:
                    raise
                self.stop = exc
                break
            budget -= 1
            if before is None:
                self.top_page = page
            for post in page.posts:
                if post.id > floor and (before is None or post.id < before):
                    walk.posts[post.id] = post
            ids = [p.id for p in page.posts if before is None or p.id < before]
            if ids:
                walk.oldest = min(ids) if walk.oldest is None else min(walk.oldest, *ids)
            if (ids and min(ids) <= floor + 1) or page.before is None or not ids:
                walk.reached = True
                break
            before = page.before
        return walk, budget

    # -- storing --------------------------------------------------------------------------------
    def store(self, posts: list[PreviewPost], kind: str) -> None:
        if not posts:
            return
        records = []
        for post in sorted(posts, key=lambda p: p.id):
            record = post_record(post)
            record["version"] = 1
            if self.opts.preview_media:
                self.fetch_media(post, record)
            records.append(record)
            self.captured.add(post.id)
            self.item(post.id, "captured", mode="preview", date=post.date,
                      fingerprint=record["fingerprint"], version=1)  # fmt: skip
        self.write_batch(kind, records)

    def fetch_media(self, post: PreviewPost, record: dict[str, Any]) -> None:
        for index, media in enumerate(record["media"], start=1):
            url = media["url"]
            match = _EXT.search(urlsplit(url).path.lower())
            ext = match.group(1) if match else _DEFAULT_EXT.get(media["kind"], "bin")
            name = f"media/{post.id}-{media['kind']}-{index}.{ext}"
            platform = {"channel": self.username, "message_id": post.id, "kind": media["kind"],
                        "url": url}  # fmt: skip
            try:
                with self.staging.media(
                    name, _guess_type(media["kind"], ext), self.opts.max_media_bytes, platform
                ) as out:
                    response = self.fetcher.get(url, out, self.opts.max_media_bytes)  # type: ignore[arg-type]
                    if response.status != 200:
                        raise CollectionError(f"HTTP {response.status}")
                    declared = (response.header("content-type") or "").split(";")[0].strip().lower()
                    if _MIME.match(declared):
                        out.media_type = declared
                media["file"] = name
                self.media_downloaded += 1
            except TooLarge:
                media["status"] = f"not downloaded: over {self.opts.max_media_bytes} bytes"
            except PolicyError as exc:
                media["status"] = f"refused: {exc}"
                self.reasons.append(f"post {post.id}: media refused by the network policy")
            except CollectionError as exc:
                media["status"] = f"failed: {exc}"
                self.reasons.append(f"post {post.id}: media not captured ({exc})")

    # -- edits and deletions on pages fetched anyway ---------------------------------------------
    def recheck(self, page: PreviewPage | None, newest_known: int) -> None:
        if page is None or not page.posts:
            return
        seen = self.ctx.seen
        on_page = {p.id: p for p in page.posts}
        for post in page.posts:
            if post.id > newest_known or post.id in self.captured:
                continue
            info = seen.get(str(post.id))
            stored = (info or {}).get("data") or {}
            if info is None or info.get("status") == "deleted" or stored.get("mode") != "preview":
                continue
            record = post_record(post)
            if record["fingerprint"] == stored.get("fingerprint"):
                continue
            version = int(stored.get("version", 1)) + 1
            record["version"] = version
            record["previous"] = {"capture_id": info.get("capture_id"),
                                  "fingerprint": stored.get("fingerprint")}  # fmt: skip
            if self.opts.preview_media:
                self.fetch_media(post, record)
            self.edited.append(record)
            self.item(post.id, "edited", mode="preview", date=post.date,
                      fingerprint=record["fingerprint"], version=version)  # fmt: skip
        low, high = min(on_page), min(max(on_page), newest_known)
        observed = iso(self.now())
        for item_id in seen.captured_ids():
            if not item_id.isdigit() or not low < int(item_id) < high or int(item_id) in on_page:
                continue
            info = seen.get(item_id) or {}
            if info.get("status") == "deleted" or (info.get("data") or {}).get("mode") != "preview":
                continue
            self.deleted.append({"id": int(item_id), "deleted_observed_at": observed,
                                 "last_capture_id": info.get("capture_id")})  # fmt: skip
            self.item(item_id, "deleted", deleted_observed_at=observed,
                      deleted_in_capture=self.ctx.capture_id)  # fmt: skip

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> CollectedCapture:
        cursor = dict(self.ctx.cursor or {})
        newest_known = int(cursor.get("newest_id", cursor.get("last_id", 0)) or 0)
        gaps = [list(map(int, g)) for g in cursor.get("gaps") or []]
        budget = self.opts.preview_max_pages
        self.top_page: PreviewPage | None = None
        newest = newest_known
        warc_path = self.ctx.staging / WARC_NAME
        with open(warc_path, "wb") as warc:
            self.fetcher = WarcFetcher(warc, self.ctx.policy, self.user_agent())
            self.fetcher.warcinfo(self.warcinfo())
            try:
                top, budget = self.walk(None, newest_known, budget)
            except CollectionError as exc:
                return self.failed(exc)
            if top.posts:
                newest = max(newest, max(top.posts))
                if not top.reached and (newest_known > 0 or self.opts.preview_backfill):
                    gaps.insert(0, [newest_known, top.oldest or newest])
            self.store(list(top.posts.values()), "new")
            self.recheck(self.top_page, newest_known)
            gaps = self.fill_gaps(gaps, budget)
            self.store_channel()
        self.staging.adopt(WARC_NAME, "warc", "application/warc", {"channel": self.username})
        return self.result(newest, gaps, cursor)

    def fill_gaps(self, gaps: list[list[int]], budget: int) -> list[list[int]]:
        remaining: list[list[int]] = []
        for low, high in sorted(gaps, key=lambda g: g[1], reverse=True):
            if budget <= 0 or self.stop is not None:
                remaining.append([low, high])
                continue
            walk, budget = self.walk(high, low, budget)
            self.store(list(walk.posts.values()), "backfill")
            if not walk.reached:
                remaining.append([low, walk.oldest if walk.oldest is not None else high])
        return sorted(remaining, key=lambda g: g[1], reverse=True)

    def store_channel(self) -> None:
        record = {"username": self.username, "mode": "preview", "observed_at": iso(self.now()),
                  "source_page": self.base, **self.channel}  # fmt: skip
        photo = self.channel.get("photo_url")
        if photo and self.opts.preview_media:
            try:
                with self.staging.media(
                    "channel/photo-preview.jpg", "image/jpeg", self.opts.max_media_bytes,
                    {"channel": self.username},
                ) as out:  # fmt: skip
                    response = self.fetcher.get(photo, out, self.opts.max_media_bytes)  # type: ignore[arg-type]
                    if response.status != 200:
                        raise CollectionError(f"HTTP {response.status}")
                record["photo_file"] = "channel/photo-preview.jpg"
            except CollectionError as exc:
                record["photo_status"] = f"not captured: {exc}"
        self.staging.write_json("channel.json", record, "channel-json", {"channel": self.username})

    def result(self, newest: int, gaps: list[list[int]], old: dict[str, Any]) -> CollectedCapture:
        self.write_batch("edits", self.edited)
        if self.deleted:
            self.write_batch("deletions", self.deleted)
        reasons = list(self.reasons)
        retry_after = None
        if self.stop is not None:
            reasons.insert(0, f"stopped early: {self.stop}")
            if isinstance(self.stop, RateLimited):
                retry_after = self.now() + timedelta(seconds=self.stop.seconds)
        missing = [g for g in gaps if g[0] > 0]  # posts published since the watch began
        if gaps:
            reasons.append(
                f"{len(gaps)} older range(s) not fetched yet (page budget "
                f"{self.opts.preview_max_pages}): later runs continue"
            )
        partial = self.stop is not None or self.reasons or missing
        status = "partial" if partial else "complete"
        cursor = {
            "mode": "preview",
            "newest_id": newest,
            "gaps": gaps,
            "last_id": min(g[0] for g in gaps) if gaps else newest,
        }
        if "channel_id" in old:
            cursor["channel_id"] = old["channel_id"]
        platform = {
            "platform": "telegram",
            "mode": "preview",
            "channel": {"username": self.username, "title": self.channel.get("title")},
            "preview_url": self.base,
            "pages": self.pages,
            "messages": {
                "new": len(self.captured),
                "newest_id": newest,
                "edited": len(self.edited),
                "deleted": len(self.deleted),
            },
            "media": {"downloaded": self.media_downloaded},
        }
        return self.collected(
            status, reasons, platform=platform, network=self.network(), cursor=cursor,
            retry_after=retry_after,
        )  # fmt: skip

    def network(self) -> dict[str, Any]:
        return {"hosts": self.fetcher.hosts, "requests": self.fetcher.requests}

    def failed(self, exc: CollectionError) -> CollectedCapture:
        """Nothing could be read: keep the WARC of what the server answered, as evidence."""
        self.fetcher.warc.flush()
        self.staging.adopt(WARC_NAME, "warc", "application/warc", {"channel": self.username})
        retry_after = (
            self.now() + timedelta(seconds=exc.seconds) if isinstance(exc, RateLimited) else None
        )
        return self.collected(
            "failed",
            [str(exc)],
            platform={"platform": "telegram", "mode": "preview", "preview_url": self.base},
            network=self.network(),
            retry_after=retry_after,
        )

    def user_agent(self) -> str:
        from kernel import __version__

        return self.ctx.settings.user_agent or f"witnessbox/{__version__} (evidence preservation)"

    def warcinfo(self) -> dict[str, str]:
        from kernel import __version__

        return {
            "software": f"witnessbox/{__version__} telegram preview collector",
            "format": "WARC File Format 1.1",
            "description": f"public preview of Telegram channel @{self.username}",
            "isPartOf": self.source.id,
        }


def _guess_type(kind: str, ext: str) -> str:
    return {
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
        "mp4": "video/mp4", "webm": "video/webm", "ogg": "audio/ogg", "oga": "audio/ogg",
    }.get(ext, "application/octet-stream")  # fmt: skip


def collect_preview(
    source: SourceRef, ctx: CollectContext, opts: TelegramOptions, username: str
) -> CollectedCapture:
    return PreviewRun(source, ctx, opts, username).run()
