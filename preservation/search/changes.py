"""What differs between a capture and the previous capture of the same source.

Each committed capture leaves an *observation* (what it showed: the main document's HTTP
status, title, screenshot pHash; each video's title and description; a video's failure),
so the next capture is compared without reading the store. Kinds of change:

* web: ``http-status`` (e.g. 200 → 404), ``text`` (a line diff summary), ``title``,
  ``screenshot`` (pHash Hamming distance);
* Telegram: ``message-edited``, ``message-deleted`` (from the collector's item results);
* video: ``video-removed``, ``video-private``, ``video-title``, ``video-description``.

A change with ``alert`` set (a deleted message or video, a page that answers 4xx/5xx after
having answered 200) is handed to the configured notifier.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.ids import parse_time
from preservation.search.extract import Doc
from preservation.search.models import Change, Observation, SearchDoc

_PRIVATE = ("private", "login-required")
_GONE = ("removed", "not-found", "deleted")


def observe(manifest: dict[str, Any], docs: list[Doc]) -> dict[str, Any]:
    """The facts of one capture that the next capture of its source is compared with."""
    platform = manifest.get("platform") or {}
    capture = manifest["capture"]
    data: dict[str, Any] = {"status": capture["status"], "reasons": capture["reasons"][:5]}
    if manifest["source"]["kind"] == "web":
        reason = next((r for r in capture["reasons"] if r.startswith("http-")), None)
        phash = next(
            (p["value"] for a in manifest["artifacts"] if a["role"] == "screenshot"
             for p in a.get("perceptual") or [] if p["algorithm"] == "phash"),
            None,
        )  # fmt: skip
        data["web"] = {
            "http_status": platform.get("http_status"),
            "http_reason": reason,
            "title": platform.get("title"),
            "phash": phash,
        }
    videos = {d.item: d.facts for d in docs if d.field == "video" and d.item and d.facts}
    if videos:
        data["videos"] = videos
    if platform.get("failure"):
        data["failure"] = platform["failure"]
    return data


def _previous(session: Session, source_id: str, capture_id: str) -> Observation | None:
    return session.scalar(
        select(Observation)
        .where(Observation.source_id == source_id, Observation.capture_id < capture_id)
        .order_by(Observation.capture_id.desc())
        .limit(1)
    )


def _page_text(session: Session, capture_id: str) -> str | None:
    return session.scalar(
        select(SearchDoc.text).where(SearchDoc.capture_id == capture_id, SearchDoc.field == "page")
    )


def text_diff(before: str, after: str) -> tuple[str, dict[str, Any]]:
    old = [line.strip() for line in before.splitlines() if line.strip()]
    new = [line.strip() for line in after.splitlines() if line.strip()]
    added, removed = [], []
    for line in difflib.unified_diff(old, new, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:])
        elif line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:])
    summary = f"text: +{len(added)} −{len(removed)} lines"
    sample = (["+ " + a for a in added[:2]] + ["− " + r for r in removed[:2]])
    if sample:
        summary += " (" + "; ".join(s[:80] for s in sample) + ")"
    return summary, {"added": len(added), "removed": len(removed),
                     "added_sample": added[:5], "removed_sample": removed[:5]}  # fmt: skip


def _hamming(a: str, b: str) -> int | None:
    try:
        return bin(int(a, 16) ^ int(b, 16)).count("1")
    except ValueError:
        return None


def _web(session: Session, prev: Observation, now: dict[str, Any], capture_id: str):
    before, after = prev.data.get("web") or {}, now.get("web") or {}
    was, status = before.get("http_status"), after.get("http_status")
    if was != status:
        shown = after.get("http_reason") or (f"HTTP {status}" if status else "no answer")
        alert = bool(was and was < 400 and status and status >= 400)
        yield "http-status", None, f"HTTP {was or 'no answer'} → {shown}", {
            "from": was, "to": status, "alert": alert}  # fmt: skip
    if before.get("title") != after.get("title") and before.get("title") is not None:
        yield "title", None, f"title: {before.get('title')!r} → {after.get('title')!r}", {
            "from": before.get("title"), "to": after.get("title")}  # fmt: skip
    old_text, new_text = _page_text(session, prev.capture_id), _page_text(session, capture_id)
    if old_text is not None and new_text is not None and old_text != new_text:
        summary, data = text_diff(old_text, new_text)
        yield "text", None, summary, data
    if before.get("phash") and after.get("phash"):
        distance = _hamming(before["phash"], after["phash"])
        if distance:
            yield "screenshot", None, f"screenshot pHash distance {distance}/64", {
                "distance": distance}  # fmt: skip


def _videos(prev: Observation | None, now: dict[str, Any]):
    before = (prev.data.get("videos") if prev else None) or {}
    for video_id, facts in (now.get("videos") or {}).items():
        old = before.get(video_id)
        if not old:
            continue
        for key in ("title", "description"):
            if old.get(key) != facts.get(key):
                yield f"video-{key}", video_id, f"{key} changed: {old.get(key, '')[:60]!r} → " \
                    f"{facts.get(key, '')[:60]!r}", {"from": old.get(key), "to": facts.get(key)}
    failure = now.get("failure") or {}
    if prev is not None and failure.get("kind") in _PRIVATE and not prev.data.get("failure"):
        yield "video-private", None, f"the video is now {failure['kind']}", {"alert": True}


def _items(manifest: dict[str, Any]):
    kind = manifest["source"]["kind"]
    failure = (manifest.get("platform") or {}).get("failure") or {}
    for item in manifest["capture"].get("items") or []:
        data = item.get("data") or {}
        if item["status"] == "deleted":
            at = parse_time(data.get("deleted_observed_at"))
            if kind == "telegram":
                yield "message-deleted", item["id"], f"message {item['id']} deleted", {
                    "alert": True, "at": at}  # fmt: skip
            elif failure.get("kind") not in _PRIVATE:
                why = item.get("error") or "no longer available"
                yield "video-removed", item["id"], f"video {item['id']}: {why}", {"alert": True}
        elif item["status"] == "edited" and kind == "telegram":
            yield "message-edited", item["id"], f"message {item['id']} edited (version " \
                f"{data.get('version', '?')})", {"version": data.get("version")}


def record_changes(
    session: Session, manifest: dict[str, Any], docs: list[Doc]
) -> list[Change]:
    """Observe this capture, compare it with the previous one, and add the changes found."""
    capture, source = manifest["capture"], manifest["source"]
    if session.get(Observation, capture["id"]) is not None:
        return []  # already done (a resumed commit, or reindex of an indexed capture)
    now = observe(manifest, docs)
    prev = _previous(session, source["id"], capture["id"])
    session.add(Observation(capture_id=capture["id"], source_id=source["id"], data=now))
    found = list(_items(manifest))
    if prev is not None and source["kind"] == "web":
        found.extend(_web(session, prev, now, capture["id"]))
    if source["kind"] == "video":
        found.extend(_videos(prev, now))
    finished = parse_time(capture["finished_at"])
    changes = []
    for kind, item, summary, data in found:
        at = data.pop("at", None) or finished
        change = Change(
            source_id=source["id"], case_id=source.get("case"), capture_id=capture["id"],
            previous_capture_id=prev.capture_id if prev else capture.get("previous_capture_id"),
            kind=kind, item=item, at=at, summary=summary[:2000], data=data,
        )  # fmt: skip
        session.add(change)
        changes.append(change)
    return changes


def change_dict(change: Change, source_url: str | None = None) -> dict[str, Any]:
    from kernel.ids import isoformat

    return {
        "at": isoformat(change.at),
        "kind": change.kind,
        "source_id": change.source_id,
        "source_url": source_url,
        "case": change.case_id,
        "capture_id": change.capture_id,
        "previous_capture_id": change.previous_capture_id,
        "item": change.item,
        "summary": change.summary,
        "alert": bool((change.data or {}).get("alert")),
        "data": change.data or {},
    }


def list_changes(
    session: Session,
    since: datetime | None = None,
    case: str | None = None,
    source: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Changes newest first (by when they were observed)."""
    from preservation.catalogue.models import Source

    query = select(Change, Source.url).join(Source, Source.id == Change.source_id, isouter=True)
    if since is not None:
        query = query.where(Change.at >= since)
    if case:
        query = query.where(Change.case_id == case)
    if source:
        query = query.where(Change.source_id == source)
    rows = session.execute(query.order_by(Change.at.desc(), Change.id.desc()).limit(limit))
    return [change_dict(change, url) for change, url in rows]
