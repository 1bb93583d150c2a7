"""Capture one video (one item of a source) into its own directory of the staging area.

The directory is named from the video id (``files.item_token``) and every file in it has
a fixed name: ``media.<ext>`` (the download, or the merge of the streams),
``media.f<format>.<ext>`` (each stream as downloaded, when streams were merged),
``thumbnail.<ext>``, ``subtitles.<lang>.<ext>``, ``info.json`` and ``comments.json``.
Whatever goes wrong comes back as a ``Failure`` in the outcome, never as an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.base import ItemResult, StagedArtifact
from collectors.video.failures import Failure, classify
from collectors.video.files import (
    artifact_name,
    honest_extension,
    item_token,
    media_type_for,
    probe,
    safe_part,
    scrub,
    write_json,
)
from collectors.video.session import YtdlpSession

_LEFTOVERS = (".part", ".ytdl", ".temp", ".frag", ".part-Frag")
_FORMAT_FILE = re.compile(r"^media\.f(.+)\.([A-Za-z0-9]+)$")


@dataclass
class ItemOutcome:
    item_id: str | None
    artifacts: list[StagedArtifact] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    problems: list[str] = field(default_factory=list)  # media kept, but something is wrong
    skipped: str | None = None  # why nothing was downloaded, when that is not a failure
    info: dict[str, Any] | None = None

    @property
    def has_media(self) -> bool:
        return any(a.role == "media" for a in self.artifacts)

    def item_result(self, max_filesize: int | None) -> ItemResult | None:
        if self.item_id is None:
            return None
        data = {
            k: self.facts[k]
            for k in ("extractor", "webpage_url", "upload_date")
            if self.facts.get(k)
        }
        if self.failure is not None:
            return ItemResult(self.item_id, "failed", str(self.failure), data)
        if self.skipped:
            data["max_filesize"] = max_filesize
            return ItemResult(self.item_id, "skipped", self.skipped, data)
        if self.problems:
            return ItemResult(self.item_id, "failed", "; ".join(self.problems), data)
        return ItemResult(self.item_id, "captured", None, data)


def video_facts(info: dict[str, Any]) -> dict[str, Any]:
    """The platform identifiers of one video, for the manifest."""
    keys = (
        "id",
        "extractor",
        "extractor_key",
        "webpage_url",
        "original_url",
        "uploader",
        "uploader_id",
        "uploader_url",
        "channel",
        "channel_id",
        "channel_url",
        "upload_date",
        "timestamp",
        "release_timestamp",
        "duration",
        "live_status",
        "availability",
        "playlist_id",
        "playlist_index",
        "epoch",
    )
    facts = {k: info[k] for k in keys if info.get(k) is not None}
    formats = info.get("requested_formats") or _downloaded_formats(info)
    formats = formats or ([info] if info.get("format_id") or info.get("url") else [])
    facts["formats"] = [
        {
            k: f.get(k)
            for k in ("format_id", "ext", "protocol", "vcodec", "acodec", "width", "height")
        }
        for f in formats
    ]
    headers = next((f.get("http_headers") for f in formats if f.get("http_headers")), None)
    headers = headers or info.get("http_headers")
    if headers:
        facts["http_headers"] = scrub(dict(headers))
    return facts


def _raw_info(session: YtdlpSession, info: dict[str, Any]) -> dict[str, Any]:
    return scrub(session.ydl.sanitize_info(dict(info), remove_private_keys=True))


def extract(session: YtdlpSession, target: str | dict[str, Any], ie_key: str | None = None) -> Any:
    """Resolve a URL or a listing entry to a video info dict (no download)."""
    ydl = session.ydl
    if isinstance(target, dict) and target.get("_type") not in ("url", "url_transparent"):
        return ydl.process_ie_result(dict(target), download=False)
    url = target if isinstance(target, str) else target["url"]
    key = ie_key or (target.get("ie_key") if isinstance(target, dict) else None)
    return ydl.extract_info(url, download=False, ie_key=key)


def capture_item(
    session: YtdlpSession,
    staging: Path,
    target: str | dict[str, Any],
    *,
    info: dict[str, Any] | None = None,
    known_id: str | None = None,
    metadata_only: bool = False,
) -> ItemOutcome:
    """Extract (unless ``info`` is given), download and describe one video."""
    refused_before = len(session.guard.refused)
    outcome = ItemOutcome(known_id)
    if info is None:
        try:
            info = extract(session, target)
        except Exception as exc:  # yt-dlp raises many kinds; all become a reason
            outcome.failure = classify(exc, session.guard.refused[refused_before:])
            return outcome
    if info.get("_type") in ("playlist", "multi_video"):
        outcome.failure = Failure("unsupported", "a playlist where a single video was expected")
        return outcome
    item_id = str(info.get("id") or known_id or "")
    outcome.item_id = item_id or None
    if not item_id:
        outcome.failure = Failure("error", "the extractor gave the video no id")
        return outcome
    directory = staging / item_token(item_id)
    directory.mkdir(parents=True, exist_ok=True)
    outcome.info = info
    outcome.facts = video_facts(info)

    if metadata_only:
        _write_info(session, staging, directory, info, outcome)
        return outcome

    session.set_item_dir(str(directory))
    session.logger.notes.clear()
    session.progress(f"video {item_id}: downloading")
    try:
        info = session.ydl.process_ie_result(info, download=True) or info
        outcome.info = info
        outcome.facts = video_facts(info)
    except Exception as exc:
        outcome.failure = classify(exc, session.guard.refused[refused_before:])
    _write_info(session, staging, directory, info, outcome)
    _gather(session, staging, directory, info, outcome)
    for artifact in outcome.artifacts:  # digests taken while the bytes were written
        written = session.digests.lookup(staging / artifact.name)
        if written is not None:
            artifact.digests = written.as_dict()
    if outcome.failure is None and not outcome.has_media:
        note = next((n for n in session.logger.notes if "max-filesize" in n), None)
        if note:
            outcome.skipped = f"too large: {note}"
        elif item_id in session.archive and item_id not in session.archive.added:
            outcome.skipped = "already captured"
        else:
            outcome.failure = Failure("error", "yt-dlp finished without downloading any media")
    return outcome


def _platform(outcome: ItemOutcome) -> dict[str, Any]:
    """The provenance every artifact of one video item carries: its id, extractor, page."""
    return {k: outcome.facts.get(k) for k in ("id", "extractor", "webpage_url")}


def _write_info(
    session: YtdlpSession,
    staging: Path,
    directory: Path,
    info: dict[str, Any],
    outcome: ItemOutcome,
) -> None:
    raw = _raw_info(session, info)
    comments = raw.get("comments")
    path = directory / "info.json"
    write_json(path, raw)
    platform = _platform(outcome)
    outcome.artifacts.append(
        StagedArtifact(
            artifact_name(staging, path), "info-json", "application/json", platform=platform
        )
    )
    if isinstance(comments, list) and session.options.comments:
        cpath = directory / "comments.json"
        write_json(
            cpath, {"video_id": info.get("id"), "count": len(comments), "comments": comments}
        )
        outcome.artifacts.append(
            StagedArtifact(
                artifact_name(staging, cpath), "comments", "application/json", platform=platform
            )
        )


def _gather(
    session: YtdlpSession,
    staging: Path,
    directory: Path,
    info: dict[str, Any],
    outcome: ItemOutcome,
) -> None:
    """List what yt-dlp left in the item directory, with roles, types and provenance."""
    base = _platform(outcome)
    formats = {str(f.get("format_id")): f for f in _downloaded_formats(info) if f.get("filepath")}
    by_path = {Path(f["filepath"]).name: f for f in formats.values()}
    languages = _subtitle_languages(info)
    merged: Path | None = None
    video_stream: str | None = None
    streams: list[StagedArtifact] = []
    for path in sorted(directory.iterdir()):
        name = path.name
        if (
            not path.is_file()
            or name.endswith(_LEFTOVERS)
            or name in ("info.json", "comments.json")
        ):
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
            path = _rename_safely(path)
            name = path.name
        if name.startswith("media."):
            fmt = by_path.get(name)
            if fmt is None and formats and _FORMAT_FILE.match(name) is None:
                merged = path
                continue
            if fmt is None and not formats:
                fmt = info
            artifact = _media_artifact(staging, path, fmt or {}, base, outcome)
            streams.append(artifact)
            if video_stream is None and (fmt or {}).get("vcodec") not in ("none", None):
                video_stream = artifact.name
            elif video_stream is None and not formats:
                video_stream = artifact.name
        elif name.startswith("thumbnail."):
            outcome.artifacts.append(
                StagedArtifact(
                    artifact_name(staging, path), "thumbnail", media_type_for(path), platform=base
                )
            )
        elif name.startswith("subtitles."):
            lang = name.split(".")[1] if name.count(".") >= 2 else "und"
            outcome.artifacts.append(
                StagedArtifact(
                    artifact_name(staging, path),
                    "subtitles",
                    media_type_for(path),
                    platform={**base, "language": languages.get(lang, lang)},
                )
            )
    outcome.artifacts.extend(streams)
    if merged is not None:
        if video_stream is None and streams:
            video_stream = streams[0].name
        artifact = _media_artifact(staging, merged, {}, base, outcome, derived=True)
        artifact.derived_from = video_stream
        artifact.platform["merged_from"] = [s.name for s in streams]
        outcome.artifacts.append(artifact)


def _media_artifact(
    staging: Path,
    path: Path,
    fmt: dict[str, Any],
    base: dict[str, Any],
    outcome: ItemOutcome,
    derived: bool = False,
) -> StagedArtifact:
    media_type = media_type_for(path)
    path = honest_extension(path, media_type)
    summary, problem = probe(path)
    platform = {**base, "probe": summary}
    if fmt:
        platform.update(
            {
                k: fmt.get(k)
                for k in ("format_id", "protocol", "ext", "vcodec", "acodec")
                if fmt.get(k)
            }
        )
        url = fmt.get("url")
        if isinstance(url, str) and "\n" not in url:
            platform["url"] = url
    if derived:
        platform["derivative"] = "merged by yt-dlp (ffmpeg, streams copied)"
    if problem:
        outcome.problems.append(f"{path.name}: {problem}")
        platform["problem"] = problem
    return StagedArtifact(artifact_name(staging, path), "media", media_type, platform=platform)


def _downloaded_formats(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The separate streams yt-dlp downloaded for a merge (empty for a single file)."""
    out: list[dict[str, Any]] = []
    for download in info.get("requested_downloads") or []:
        out.extend(download.get("requested_formats") or [])
    return out


def _subtitle_languages(info: dict[str, Any]) -> dict[str, str]:
    """The safe language part of each subtitle file name → the platform's language code."""
    out: dict[str, str] = {}
    for lang in info.get("requested_subtitles") or {}:
        key = base = safe_part(str(lang), "und")
        n = 2
        while key in out:
            key, n = f"{base}-{n}", n + 1
        out[key] = str(lang)
    return out


def _rename_safely(path: Path) -> Path:
    stem = safe_part(path.stem, "file")
    suffix = safe_part(path.suffix.lstrip("."), "bin")
    target = path.with_name(f"{stem}.{suffix}")
    n = 2
    while target.exists():
        target, n = path.with_name(f"{stem}-{n}.{suffix}"), n + 1
    path.rename(target)
    return target
