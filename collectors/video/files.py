"""Files of a video capture: safe names, honest media types, a decode check, clean JSON.

Names come from ids, and ids come from platforms: a video id that is not a plain token is
replaced by a digest of it. Media types are sniffed from the bytes, because an HLS stream
saved without fixups is MPEG-TS whatever extension yt-dlp gave it.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

from collectors.base import check_artifact_name

_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SECRET_KEYS = {"cookies", "cookie", "authorization", "proxy-authorization", "x-api-key"}
_EXT_TYPES = {
    "mp4": "video/mp4", "m4v": "video/mp4", "m4a": "audio/mp4", "webm": "video/webm",
    "mkv": "video/x-matroska", "mka": "audio/x-matroska", "ts": "video/mp2t",
    "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg", "flv": "video/x-flv",
    "mov": "video/quicktime", "3gp": "video/3gpp", "aac": "audio/aac", "wav": "audio/wav",
    "vtt": "text/vtt", "srt": "application/x-subrip", "ass": "text/x-ssa",
    "ttml": "application/ttml+xml", "srv3": "application/xml", "json3": "application/json",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
    "gif": "image/gif", "json": "application/json",
}  # fmt: skip


def item_token(item_id: str) -> str:
    """A directory name for one item: the id itself when it is a plain token."""
    if _TOKEN.match(item_id) and ".." not in item_id:
        return item_id
    return "id-" + hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:24]


def safe_part(text: str, fallback: str) -> str:
    """A file-name fragment (language code, format id) reduced to safe characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:32]
    return cleaned or fallback


def sniff_media_type(path: Path) -> str | None:
    """The container from the first bytes; None when they say nothing we know."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        return "video/mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"moof", b"styp"):
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video/mp2t"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"WEBVTT") or head.startswith(b"\xef\xbb\xbfWEBVTT"):
        return "text/vtt"
    return None


def media_type_for(path: Path) -> str:
    sniffed = sniff_media_type(path)
    if sniffed:
        return sniffed
    ext = path.suffix.lower().lstrip(".")
    return _EXT_TYPES.get(ext) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


_TYPE_EXT = {
    "video/mp2t": "ts", "video/webm": "webm", "video/x-matroska": "mkv", "video/x-flv": "flv",
    "video/quicktime": "mov", "audio/mp4": "m4a", "video/mp4": "mp4",
}  # fmt: skip


def honest_extension(path: Path, media_type: str) -> Path:
    """Rename a file whose extension contradicts its bytes (TS saved as .mp4): bytes unchanged."""
    wanted = _TYPE_EXT.get(media_type)
    current = path.suffix.lower().lstrip(".")
    if wanted is None or current == wanted or (wanted == "mp4" and current in ("m4v", "mp4")):
        return path
    if wanted == "m4a" and current in ("mp4", "m4a"):
        return path
    target = path.with_suffix("." + wanted)
    if target.exists():
        return path
    path.rename(target)
    return target


def probe(path: Path) -> tuple[dict[str, Any], str | None]:
    """Streams and container as libavformat reads them, and the problem if it cannot.

    PyAV in this process (it is loaded for the keyframe hashes anyway) reads what ffprobe
    would (the container, then stream parameters from the first packets) without spawning
    a process per file: ~0.1 CPU-s and more wall time saved on every media file.
    """
    import av

    summary: dict[str, Any] = {"container": None, "duration": None, "streams": []}
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return summary, f"not a decodable media file ({' '.join(str(detail).split())[:300]})"
    with container:
        summary["container"] = container.format.name
        if container.duration:
            summary["duration"] = container.duration / av.time_base
        for stream in container.streams:
            if stream.type not in ("video", "audio"):
                continue
            entry: dict[str, Any] = {"codec_type": stream.type}
            ctx = stream.codec_context
            if ctx is not None and ctx.name:
                entry["codec_name"] = ctx.name
            if stream.type == "video" and ctx is not None:
                entry.update(width=ctx.width, height=ctx.height)
            summary["streams"].append(entry)
    if not summary["streams"]:
        return summary, "not a decodable media file (no audio or video stream found)"
    return summary, None


def _number(value: Any) -> float | None:
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return None


def scrub(value: Any) -> Any:
    """Drop cookies and credentials wherever yt-dlp left them (per-format ``cookies``, headers)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        json.dump(value, out, ensure_ascii=False, indent=1, sort_keys=False, default=repr)
        out.write("\n")


def artifact_name(staging: Path, path: Path) -> str:
    return check_artifact_name(path.relative_to(staging).as_posix())
