"""Small media fixtures made with ffmpeg at test time: clips, separate streams, HLS, junk."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def need_ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg or not shutil.which("ffprobe"):
        raise RuntimeError("ffmpeg and ffprobe are needed: apt-get install ffmpeg (make test does)")
    return ffmpeg


def ffmpeg(*args: str) -> None:
    subprocess.run([need_ffmpeg(), "-v", "error", "-y", *args], check=True, timeout=120)


@dataclass(frozen=True)
class MediaKit:
    root: Path

    def path(self, name: str) -> Path:
        return self.root / name


def make_clip(out: Path, seconds: float = 2, size: str = "320x240", tone: int = 440) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out),
    )  # fmt: skip
    return out


def make_kit(root: Path) -> MediaKit:
    """Everything the video tests serve, in one directory (about 1 MB, under a second)."""
    root.mkdir(parents=True, exist_ok=True)
    clip = make_clip(root / "clip.mp4")
    make_clip(root / "clip2.mp4", seconds=1, tone=660)
    ffmpeg(
        "-i",
        str(clip),
        "-an",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        str(root / "video-only.mp4"),
    )
    ffmpeg(
        "-i",
        str(clip),
        "-vn",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        str(root / "audio-only.m4a"),
    )
    ffmpeg("-i", str(clip), "-frames:v", "1", "-q:v", "4", str(root / "thumb.jpg"))
    hls = root / "hls"
    hls.mkdir(exist_ok=True)
    ffmpeg(
        "-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(hls / "seg%03d.ts"), str(hls / "stream.m3u8"),
    )  # fmt: skip
    (root / "subs.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nA test caption\n", encoding="utf-8"
    )
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(64 * 1024))
    return MediaKit(root)
