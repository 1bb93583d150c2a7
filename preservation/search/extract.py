"""The searchable text of one capture, read from the artifacts its collector stored.

Web: the visible text (``text.txt``) and the title; Telegram: the text (a caption is the
text of a media message) of every message version in the message batches, and the
channel's title and description; video: title, description and uploader from
``info.json``, and each subtitle track. Every file is read through a size cap, and a
document's text is capped too: search is an index, the stored files stay the evidence.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from kernel.ids import parse_time

log = logging.getLogger("witnessbox.search")

#: Opens a manifest's artifact entry for reading (staging at commit, the store on reindex).
Opener = Callable[[dict[str, Any]], AbstractContextManager[IO[bytes]]]
MAX_DOC_CHARS = 100_000
READ_CAPS = {"text": 4 << 20, "message-json": 64 << 20, "channel-json": 8 << 20,
             "info-json": 16 << 20, "subtitles": 8 << 20}  # fmt: skip
_CUE_TIME = re.compile(r"^\s*(\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}\s*-->")
_TAG = re.compile(r"<[^>]{0,200}>")


@dataclass
class Doc:
    field: str  # page | title | message | channel | video | subtitles
    text: str
    item: str | None = None
    version: int | None = None
    posted_at: datetime | None = None
    artifact: str | None = None
    facts: dict[str, Any] | None = None  # what changes compare (a video's title, description)


class TooLarge(Exception):
    pass


def _read(opener: Opener, entry: dict[str, Any]) -> bytes:
    cap = READ_CAPS.get(entry["role"], 1 << 20)
    with opener(entry) as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise TooLarge(f"{entry['name']}: over {cap} bytes, not indexed")
    return data


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        if re.fullmatch(r"\d{8}", text):  # yt-dlp upload_date
            return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
        moment = parse_time(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cap(text: str) -> str:
    return text[:MAX_DOC_CHARS]


def subtitle_text(data: str) -> str:
    """WebVTT or SRT → the spoken lines (no cue numbers, timings, styling or markup)."""
    lines: list[str] = []
    skip_block = False
    for raw in data.splitlines():
        line = raw.strip()
        if not line:
            skip_block = False
            continue
        if skip_block or line == "WEBVTT" or line.startswith(("WEBVTT ", "Kind:", "Language:")):
            continue
        if line.startswith(("NOTE", "STYLE", "REGION")):
            skip_block = True
            continue
        if line.isdigit() or _CUE_TIME.match(line):
            continue
        text = _TAG.sub("", line).strip()
        if text and (not lines or lines[-1] != text):  # auto captions repeat rolling lines
            lines.append(text)
    return "\n".join(lines)


def _web(manifest: dict[str, Any], entry: dict[str, Any], opener: Opener) -> Iterator[Doc]:
    text = _read(opener, entry).decode("utf-8", "replace")
    page_url = (entry.get("platform") or {}).get("page_url")
    yield Doc("page", _cap(text), item=page_url, artifact=entry["name"])


def _messages(entry: dict[str, Any], opener: Opener) -> Iterator[Doc]:
    batch = json.loads(_read(opener, entry))
    for record in batch.get("messages") or []:
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            continue
        yield Doc(
            "message",
            _cap(text),
            item=str(record.get("id")),
            version=int(record.get("version") or 1),
            posted_at=_time(record.get("date")),
            artifact=entry["name"],
        )


def _channel(entry: dict[str, Any], opener: Opener) -> Iterator[Doc]:
    record = json.loads(_read(opener, entry))
    text = "\n".join(str(record.get(k)) for k in ("title", "about") if record.get(k))
    if text.strip():
        yield Doc("channel", _cap(text), item=str(record.get("username") or record.get("id")),
                  artifact=entry["name"])  # fmt: skip


def _video(entry: dict[str, Any], opener: Opener) -> Iterator[Doc]:
    info = json.loads(_read(opener, entry))
    if not isinstance(info, dict):
        return
    parts = [str(info[k]) for k in ("title", "uploader", "channel", "description") if info.get(k)]
    if parts:
        posted = _time(info.get("upload_date"))
        facts = {k: str(info.get(k) or "")[:4000] for k in ("title", "description")}
        yield Doc("video", _cap("\n".join(dict.fromkeys(parts))), item=str(info.get("id") or ""),
                  posted_at=posted, artifact=entry["name"], facts=facts)  # fmt: skip


def _subtitles(entry: dict[str, Any], opener: Opener) -> Iterator[Doc]:
    text = subtitle_text(_read(opener, entry).decode("utf-8", "replace"))
    if text:
        platform = entry.get("platform") or {}
        yield Doc("subtitles", _cap(text), item=str(platform.get("id") or ""),
                  artifact=entry["name"])  # fmt: skip


def documents(manifest: dict[str, Any], opener: Opener) -> tuple[list[Doc], list[str]]:
    """Every searchable text of a capture, and the files that could not be read."""
    docs: list[Doc] = []
    problems: list[str] = []
    title = (manifest.get("platform") or {}).get("title")
    if manifest["source"]["kind"] == "web" and isinstance(title, str) and title.strip():
        docs.append(Doc("title", _cap(title), item=manifest["platform"].get("final_url")))
    readers = {"message-json": _messages, "channel-json": _channel, "subtitles": _subtitles}
    for entry in manifest["artifacts"]:
        role = entry["role"]
        try:
            if role == "text":
                docs.extend(_web(manifest, entry, opener))
            elif role == "info-json" and not entry["name"].endswith("playlist.info.json"):
                docs.extend(_video(entry, opener))
            elif role in readers:
                docs.extend(readers[role](entry, opener))
        except (TooLarge, ValueError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"{entry['name']}: {exc}")
        except Exception as exc:  # a store error: the index is derived data, say and go on
            problems.append(f"{entry['name']}: {type(exc).__name__}: {exc}")
    return docs, problems
