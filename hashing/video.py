"""Perceptual hashes of videos: keyframes only, a bounded number, evenly spread.

Decoding every frame of a 60 s 720p clip takes seconds; decoding only keyframes takes a
fraction of that, and a keyframe is as good a sample as any. Packets are demuxed (cheap)
and only the keyframe packets nearest to evenly spaced target times are decoded, so the
work is bounded by ``max_frames`` decodes whatever the video's length.

Each sampled keyframe gets pHash and PDQ with ``"frame": "<seconds>s"`` (presentation
time, 3 decimals). The video-level summary is one more pHash and PDQ with
``"frame": "median"``: the bitwise majority over the sampled keyframes, which stays close
between re-encodes of the same video (ties, with an even count, give 1).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from hashing.perceptual import (
    FRAME_ALGORITHMS,
    IMAGEHASH_LIBRARY,
    PDQ_LIBRARY,
    HashResult,
    NotHashable,
    entry,
    hash_pil,
)

MAX_KEYFRAMES = 64
#: Frames are scaled to fit this many pixels on their longer side before hashing.
FRAME_MAX_SIDE = 512
DEADLINE_SECONDS = 120.0


class _Sampler:
    """Chooses which keyframes to decode: the first at or after each target time.

    With a known duration the targets are ``start + k * duration / max_frames``: at most
    ``max_frames`` decodes. Without one, every ``stride``-th keyframe is taken and the stride
    doubles each time another ``max_frames`` were taken past the first ``2 * max_frames``,
    so decodes grow with the logarithm of the keyframe count; ``pick_by_time`` then keeps
    ``max_frames`` of them.
    """

    def __init__(self, max_frames: int, start: float, duration: float | None) -> None:
        self.max_frames = max_frames
        self.start = start
        self.step = duration / max_frames if duration and duration > 0 else None
        self.next_target = start
        self.seen = 0
        self.taken = 0
        self.stride = 1

    def want(self, t: float) -> bool:
        index = self.seen
        self.seen += 1
        if self.step is None or not math.isfinite(t):
            if index % self.stride:
                return False
            self.taken += 1
            if self.taken >= 2 * self.max_frames and self.taken % self.max_frames == 0:
                self.stride *= 2
            return True
        if t + 1e-6 < self.next_target:
            return False
        self.next_target = self.start + (int((t - self.start) / self.step) + 1) * self.step
        return True


def _frame_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, FRAME_MAX_SIDE / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def iter_keyframes(
    path: str | Path,
    max_frames: int = MAX_KEYFRAMES,
    deadline: float = DEADLINE_SECONDS,
    notes: list[str] | None = None,
    stats: dict[str, Any] | None = None,
) -> Iterator[tuple[float, str, Image.Image]]:
    """Yield (seconds, label, luma image) for the sampled keyframes, in decoding order.

    The label is the time (``"12.480s"``), or for untimed streams (raw H.264) the
    keyframe's ordinal (``"key#7"``). With an unknown duration more than ``max_frames`` may
    come: see ``_Sampler``.
    """
    notes = notes if notes is not None else []
    stats = stats if stats is not None else {}
    stop_at = time.monotonic() + deadline
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise NotHashable(f"not a readable video ({exc.strerror or type(exc).__name__})") from None
    with container:
        streams = [
            s
            for s in container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not streams:
            raise NotHashable("no video stream")
        stream = streams[0]
        ctx = stream.codec_context
        if ctx.width * ctx.height > Image.MAX_IMAGE_PIXELS:
            raise NotHashable(f"video frames too large ({ctx.width}x{ctx.height})")
        ctx.skip_frame = "NONKEY"
        stream.thread_type = "AUTO"
        tb = stream.time_base
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        if stream.duration:
            duration: float | None = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        sampler = _Sampler(max_frames, start, duration)
        stats.update(duration=duration, codec=ctx.name, width=ctx.width, height=ctx.height)
        errors = 0
        size = _frame_size(ctx.width, ctx.height)

        ordinals: deque[int] = deque()  # keyframes are not reordered: frames leave in order

        def convert(frame: av.VideoFrame) -> tuple[float, str, Image.Image]:
            # frames flushed out of the decoder carry pts but no time base: use the stream's
            t = float(frame.pts * tb) if frame.pts is not None else math.nan
            ordinal = ordinals.popleft() if ordinals else -1
            label = f"{t:.3f}s" if math.isfinite(t) else f"key#{ordinal}"
            # pHash and PDQ only look at luma: scaling the Y plane alone is ~4x cheaper
            luma = frame.reformat(
                width=size[0], height=size[1], format="gray", interpolation="AREA"
            ).to_ndarray()
            return t, label, Image.fromarray(luma, "L")

        for packet in container.demux(stream):
            if time.monotonic() > stop_at:
                notes.append(f"keyframe sampling stopped after {deadline:.0f} s (deadline)")
                break
            if packet.size == 0 or not packet.is_keyframe:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if not sampler.want(float(ts * tb) if ts is not None else math.nan):
                continue
            ordinals.append(sampler.seen - 1)
            try:
                frames = ctx.decode(packet)
            except av.error.FFmpegError:
                errors += 1
                continue
            for frame in frames:
                yield convert(frame)
        try:
            for frame in ctx.decode(None):
                yield convert(frame)
        except av.error.FFmpegError:
            errors += 1
        stats.update(keyframes_seen=sampler.seen)
        if errors:
            notes.append(f"{errors} keyframe(s) could not be decoded")


def pick_by_time(items: list[tuple[float, Any]], limit: int) -> list[tuple[float, Any]]:
    """At most ``limit`` items, the ones nearest to evenly spaced times, in time order.

    Untimed items (NaN) keep their decoding order, which for keyframes is stream order.
    """
    timed = all(math.isfinite(t) for t, _ in items)
    if timed:
        items = sorted(items, key=lambda item: item[0])
    if len(items) <= limit:
        return items
    times = np.array([t for t, _ in items]) if timed else np.arange(len(items), dtype=float)
    chosen: set[int] = set()
    for target in np.linspace(times[0], times[-1], limit):
        order = np.argsort(np.abs(times - target), kind="stable")
        chosen.add(int(next(i for i in order if i not in chosen)))
    return [items[i] for i in sorted(chosen)]


def majority(values: list[str], bits: int) -> str:
    """Bitwise majority of hex hashes of one length (ties give 1)."""
    matrix = np.array(
        [[(int(v, 16) >> (bits - 1 - i)) & 1 for i in range(bits)] for v in values], dtype=np.uint8
    )
    return entry("x", matrix.mean(axis=0) >= 0.5, "")["value"]


def hash_video(
    path: str | Path,
    max_frames: int = MAX_KEYFRAMES,
    deadline: float = DEADLINE_SECONDS,
    stats: dict[str, Any] | None = None,
) -> HashResult:
    """pHash and PDQ of up to ``max_frames`` keyframes, plus the median summary."""
    result = HashResult()
    stats = stats if stats is not None else {}
    per_frame: list[tuple[float, list[dict[str, Any]]]] = []
    sampler_notes: list[str] = []
    try:
        for t, label, luma in iter_keyframes(path, max_frames, deadline, sampler_notes, stats):
            per_frame.append((t, hash_pil(luma, FRAME_ALGORITHMS, frame=label)))
    except NotHashable as exc:
        result.notes.append(f"not hashable: {exc}")
        return result
    except Exception as exc:  # hostile input: a note, never a crash
        result.notes.append(f"not hashable: {type(exc).__name__}: {exc}")
        return result
    result.notes.extend(sampler_notes)
    per_frame = pick_by_time(per_frame, max_frames)
    stats["keyframes_hashed"] = len(per_frame)
    if not per_frame:
        result.notes.append("not hashable: no decodable keyframe")
        return result
    for _, hashes in per_frame:
        result.hashes.extend(hashes)
    for algorithm, library in (("phash", IMAGEHASH_LIBRARY), ("pdq", PDQ_LIBRARY)):
        frames = [h for _, hs in per_frame for h in hs if h["algorithm"] == algorithm]
        bits = frames[0]["bits"]
        result.hashes.append(
            {
                "algorithm": algorithm,
                "bits": bits,
                "value": majority([h["value"] for h in frames], bits),
                "library": library,
                "frame": "median",
            }
        )
    return result
