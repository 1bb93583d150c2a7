"""Generated media for the hashing tests and benchmarks: scenes, their variants, video clips.

Scenes are deterministic per seed and textured enough (smooth colour waves plus shapes)
that perceptual hashes are meaningful, unlike flat colours or pure noise.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter


def scene(seed: int, size: tuple[int, int] = (1024, 768)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    sw, sh = max(w // 8, 8), max(h // 8, 8)
    y, x = np.mgrid[0:sh, 0:sw] / max(sw, sh)
    base = np.full((sh, sw, 3), 128.0)
    for c in range(3):
        for _ in range(3):
            fx, fy = rng.uniform(0.3, 3.0, 2) * rng.choice([-1, 1], 2)
            phase = rng.uniform(0, 2 * np.pi)
            base[..., c] += rng.uniform(15, 45) * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        x0, y0 = rng.uniform(0, w * 0.9), rng.uniform(0, h * 0.9)
        x1, y1 = x0 + rng.uniform(w * 0.05, w * 0.4), y0 + rng.uniform(h * 0.05, h * 0.4)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(2))


def save_jpeg(img: Image.Image, path: Path, quality: int = 90) -> Path:
    img.convert("RGB").save(path, "JPEG", quality=quality)
    return path


def resized(img: Image.Image, factor: float) -> Image.Image:
    w, h = img.size
    return img.resize((max(1, int(w * factor)), max(1, int(h * factor))), Image.LANCZOS)


def cropped(img: Image.Image, fraction: float) -> Image.Image:
    """Cut ``fraction`` of the width and height, split over the edges."""
    w, h = img.size
    dx, dy = int(w * fraction / 2), int(h * fraction / 2)
    return img.crop((dx, dy, w - dx, h - dy))


def brightened(img: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(factor)


def need_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is required for the video tests: apt-get install ffmpeg")
    return exe


def make_clip(
    path: Path,
    seconds: float = 4,
    size: str = "640x360",
    rate: int = 25,
    gop: int = 25,
    codec: str = "libx264",
    extra: tuple[str, ...] = (),
    source: str = "testsrc2",
) -> Path:
    """An H.264 clip of an ffmpeg test source, with a keyframe every ``gop`` frames."""
    cmd = [
        need_ffmpeg(),
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{source}=size={size}:rate={rate}",
        "-t",
        str(seconds),
        "-c:v",
        codec,
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        *extra,
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return path


def reencode(src: Path, dst: Path, size: str = "480x270", crf: int = 32) -> Path:
    cmd = [
        need_ffmpeg(),
        "-v",
        "error",
        "-y",
        "-i",
        str(src),
        "-vf",
        f"scale={size.replace('x', ':')}",
        "-c:v",
        "libx264",
        "-crf",
        str(crf),
        "-g",
        "25",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        str(dst),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return dst
