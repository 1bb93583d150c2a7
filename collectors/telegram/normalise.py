"""TL objects → JSON: the raw ``to_dict`` made JSON-safe, plus the normalised fields analysts use.

Works on real ``telethon.tl.types`` objects without importing Telethon here: everything is
read by attribute and by the TL constructor name (``to_dict()["_"]``), so this module stays
cheap to import and the fake client's objects go through exactly the same code.

Two per-account access tokens, ``access_hash`` and ``file_reference``, are redacted from the
raw JSON: they are not content, and they can link a capture to the collecting account.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.canonical import compact_json
from kernel.ids import isoformat

REDACTED_KEYS = frozenset({"access_hash", "file_reference"})
REDACTED = "[redacted]"
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,127}$")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")
_EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
    "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm", "audio/ogg": "ogg",
    "audio/mpeg": "mp3", "audio/mp4": "m4a", "application/pdf": "pdf",
    "application/x-tgsticker": "tgs", "application/zip": "zip",
}  # fmt: skip


def iso(moment: datetime | None) -> str | None:
    """As Telethon dates print (microseconds only when there are any); naive means UTC."""
    return None if moment is None else isoformat(moment, "auto")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_safe(value: Any) -> Any:
    """``to_dict()`` output → JSON types: datetimes ISO 8601, bytes base64, tokens redacted.

    Hot path (every field of every message): scalars are copied without a call.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(item) in _SCALARS:
                out[key] = item
            elif key in REDACTED_KEYS:
                out[key] = REDACTED
            else:
                out[key] = json_safe(item)
        for key in REDACTED_KEYS.intersection(out):
            if out[key] is not None:
                out[key] = REDACTED
        return out
    if kind is list or kind is tuple:
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return json_safe(dict(value))
    if isinstance(value, str | int | float | bool):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return json_safe(to_dict())
    return repr(value)


def raw(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else json_safe(obj.to_dict())


def tl_name(obj: Any) -> str:
    """The TL constructor name (``Message``, ``PeerChannel``...), also for subclasses."""
    if obj is None:
        return ""
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("telethon.tl.types"):
            return cls.__name__
    return type(obj).__name__


def canonical(data: Any) -> bytes:
    return compact_json(data)


def content_hash(data: Any) -> str:
    return hashlib.sha256(canonical(data)).hexdigest()


def peer(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    name = tl_name(value)
    for kind, attr in (("channel", "channel_id"), ("user", "user_id"), ("chat", "chat_id")):
        if hasattr(value, attr):
            return {"type": kind, "id": getattr(value, attr)}
    return {"type": name}


# -- media ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MediaPlan:
    """What a message's media is, before downloading it: decides the name and the size check."""

    kind: str  # photo | video | round | voice | audio | gif | sticker | document
    media_id: int
    size: int | None
    mime: str
    ext: str
    attributes: dict[str, Any]

    def file_name(self, message_id: int) -> str:
        media_id = str(self.media_id) if self.media_id >= 0 else f"n{-self.media_id}"
        return f"media/{message_id}-{self.kind}-{media_id}.{self.ext}"

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.media_id,
            "size": self.size,
            "mime_type": self.mime,
            **self.attributes,
        }


def _photo_size(photo: Any) -> tuple[int | None, dict[str, Any]]:
    best: tuple[int, int, int] | None = None  # (pixels, bytes, ...)
    for size in getattr(photo, "sizes", None) or []:
        name = tl_name(size)
        if name == "PhotoSize":
            candidate = (size.w * size.h, size.size, 0)
        elif name == "PhotoSizeProgressive":
            candidate = (size.w * size.h, max(size.sizes or [0]), 0)
        elif name == "PhotoCachedSize":
            candidate = (size.w * size.h, len(size.bytes or b""), 0)
        else:  # stripped and path sizes are thumbnails, not the photo
            continue
        if best is None or candidate > best:
            best = candidate
    if best is None:
        return None, {}
    return best[1], {}


def _safe_mime(mime: str | None) -> str:
    mime = (mime or "").strip().lower()
    return mime if _MIME.match(mime) else "application/octet-stream"


def _extension(mime: str) -> str:
    ext = _EXTENSIONS.get(mime) or (mimetypes.guess_extension(mime) or ".bin").lstrip(".")
    return ext if _EXT.match(ext) else "bin"


def media_plan(media: Any) -> MediaPlan | None:
    """The downloadable file of a message's media, or None (web pages, polls, expired media)."""
    name = tl_name(media)
    if name == "MessageMediaPhoto":
        photo = getattr(media, "photo", None)
        if photo is None or tl_name(photo) != "Photo":
            return None
        size, attrs = _photo_size(photo)
        return MediaPlan("photo", photo.id, size, "image/jpeg", "jpg", attrs)
    if name != "MessageMediaDocument":
        return None
    doc = getattr(media, "document", None)
    if doc is None or tl_name(doc) != "Document":
        return None
    mime = _safe_mime(doc.mime_type)
    kind = "document"
    attrs: dict[str, Any] = {}
    for attr in doc.attributes or []:
        attr_name = tl_name(attr)
        if attr_name == "DocumentAttributeVideo":
            kind = "round" if getattr(attr, "round_message", False) else "video"
            attrs.update(duration=attr.duration, width=attr.w, height=attr.h)
        elif attr_name == "DocumentAttributeAudio":
            kind = "voice" if getattr(attr, "voice", False) else "audio"
            attrs.update(duration=attr.duration)
        elif attr_name == "DocumentAttributeAnimated":
            kind = "gif"
        elif attr_name == "DocumentAttributeSticker":
            kind = "sticker"
        elif attr_name == "DocumentAttributeFilename":
            attrs["file_name"] = attr.file_name  # recorded only: never used as a path
    return MediaPlan(kind, doc.id, doc.size, mime, _extension(mime), attrs)


# -- messages ---------------------------------------------------------------------------------
def _utf16_slice(text: str, offset: int, length: int) -> str:
    data = text.encode("utf-16-le")
    return data[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def entities_and_links(text: str, entities: list[Any] | None) -> tuple[list[dict], list[str]]:
    """Entities with their text (offsets are UTF-16 code units) and every link they carry."""
    out: list[dict[str, Any]] = []
    links: list[str] = []
    for entity in entities or []:
        name = tl_name(entity).removeprefix("MessageEntity").lower()
        item: dict[str, Any] = {"type": name, "offset": entity.offset, "length": entity.length}
        item["text"] = _utf16_slice(text, entity.offset, entity.length)
        if name == "url":
            links.append(item["text"])
        elif name == "texturl":
            item["url"] = entity.url
            links.append(entity.url)
        elif name == "mentionname":
            item["user_id"] = getattr(entity, "user_id", None)
        out.append(item)
    return out, list(dict.fromkeys(links))


def _fwd(header: Any) -> dict[str, Any] | None:
    if header is None:
        return None
    return {
        "from_id": peer(getattr(header, "from_id", None)),
        "from_name": getattr(header, "from_name", None),
        "channel_post": getattr(header, "channel_post", None),
        "post_author": getattr(header, "post_author", None),
        "date": iso(getattr(header, "date", None)),
        "saved_from_peer": peer(getattr(header, "saved_from_peer", None)),
        "saved_from_msg_id": getattr(header, "saved_from_msg_id", None),
    }


def _reply(header: Any) -> dict[str, Any] | None:
    if header is None or tl_name(header) != "MessageReplyHeader":
        return None
    return {
        "msg_id": getattr(header, "reply_to_msg_id", None),
        "peer": peer(getattr(header, "reply_to_peer_id", None)),
        "top_id": getattr(header, "reply_to_top_id", None),
        "quote_text": getattr(header, "quote_text", None),
    }


def normalise_message(message: Any) -> dict[str, Any]:
    """The fields analysts search on, from a Message or MessageService."""
    text = getattr(message, "message", None) or ""
    entities, links = entities_and_links(text, getattr(message, "entities", None))
    media = getattr(message, "media", None)
    plan = media_plan(media)
    webpage = getattr(media, "webpage", None) if tl_name(media) == "MessageMediaWebPage" else None
    if webpage is not None and getattr(webpage, "url", None):
        links = list(dict.fromkeys([*links, webpage.url]))
    replies = getattr(message, "replies", None)
    action = getattr(message, "action", None)
    return {
        "id": message.id,
        "type": "service" if tl_name(message) == "MessageService" else "message",
        "peer": peer(getattr(message, "peer_id", None)),
        "date": iso(getattr(message, "date", None)),
        "edit_date": iso(getattr(message, "edit_date", None)),
        "text": text,
        "entities": entities,
        "links": links,
        "views": getattr(message, "views", None),
        "forwards": getattr(message, "forwards", None),
        "replies": getattr(replies, "replies", None) if replies is not None else None,
        "fwd_from": _fwd(getattr(message, "fwd_from", None)),
        "reply_to": _reply(getattr(message, "reply_to", None)),
        "grouped_id": getattr(message, "grouped_id", None),
        "post_author": getattr(message, "post_author", None),
        "pinned": bool(getattr(message, "pinned", False)),
        "media_type": tl_name(media) or None,
        "media": plan.summary() if plan else None,
        "action": tl_name(action) or None,
    }


def message_fingerprint(norm: dict[str, Any]) -> str:
    """A hash of what an edit can change: text, entities, media identity, origin; not counters."""
    media = norm.get("media") or {}
    return content_hash(
        {
            "text": norm.get("text"),
            "entities": norm.get("entities"),
            "media": [norm.get("media_type"), media.get("kind"), media.get("id")],
            "fwd_from": norm.get("fwd_from"),
            "reply_to": norm.get("reply_to"),
            "grouped_id": norm.get("grouped_id"),
            "post_author": norm.get("post_author"),
            "action": norm.get("action"),
        }
    )


def message_record(message: Any) -> dict[str, Any]:
    """One message as stored: normalised fields, their fingerprint and the raw TL JSON."""
    norm = normalise_message(message)
    norm["fingerprint"] = message_fingerprint(norm)
    norm["raw"] = raw(message)
    return norm


def channel_record(channel: Any, full: Any | None) -> dict[str, Any]:
    photo = getattr(channel, "photo", None)
    usernames = [u.username for u in (getattr(channel, "usernames", None) or [])]
    return {
        "id": channel.id,
        "title": channel.title,
        "username": getattr(channel, "username", None),
        "usernames": usernames,
        "about": getattr(full, "about", None),
        "participants_count": (
            getattr(full, "participants_count", None)
            or getattr(channel, "participants_count", None)
        ),
        "photo_id": getattr(photo, "photo_id", None),
        "created": iso(getattr(channel, "date", None)),
        "broadcast": bool(getattr(channel, "broadcast", False)),
        "megagroup": bool(getattr(channel, "megagroup", False)),
        "verified": bool(getattr(channel, "verified", False)),
        "scam": bool(getattr(channel, "scam", False)),
        "fake": bool(getattr(channel, "fake", False)),
        "restricted": bool(getattr(channel, "restricted", False)),
        "linked_chat_id": getattr(full, "linked_chat_id", None),
        "pinned_msg_id": getattr(full, "pinned_msg_id", None),
        "raw": {"channel": raw(channel), "full": raw(full)},
    }
