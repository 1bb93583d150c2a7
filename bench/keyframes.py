"""Keyframe hashing of a 60 s 720p H.264 clip: target <= 1 s.

The clip is ffmpeg's testsrc2 at 25 fps with a keyframe every 2 s (30 keyframes),
generated once into ``--dir``. Printed: keyframe hashing time (median of ``--runs``), the
time to decode every frame for comparison, and the ratio to the 1 s target last.

Run: ``python bench/keyframes.py [--dir DIR] [--runs N] [--gop FRAMES]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av

from hashing.video import hash_video
from tests.support.hashing_media import make_clip, need_ffmpeg


def clip(directory: Path, gop: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"720p-60s-gop{gop}.mp4"
    if not path.exists():
        segment = make_clip(directory / f"seg-gop{gop}.mp4", seconds=4, size="1280x720", gop=gop)
        cmd = [need_ffmpeg(), "-v", "error", "-y", "-stream_loop", "14", "-i", str(segment)]
        subprocess.run([*cmd, "-c", "copy", str(path)], check=True, timeout=300)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/witnessbox-bench-video"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gop", type=int, default=50)
    args = parser.parse_args()
    path = clip(args.dir, args.gop)
    hash_video(path)  # warm-up: imports, codec initialisation
    times, stats = [], {}
    for _ in range(args.runs):
        stats = {}
        t = time.perf_counter()
        hash_video(path, stats=stats)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    full = time.perf_counter() - t
    median = statistics.median(times)
    print(f"clip: {stats['duration']:.0f} s {stats['width']}x{stats['height']} {stats['codec']}, "
          f"{stats['keyframes_seen']} keyframes, {stats['keyframes_hashed']} hashed")
    print(f"keyframe hashing: median {median:.3f} s, best {min(times):.3f} s over {args.runs} runs")
    print(f"decoding all {frames} frames: {full:.2f} s ({full / median:.1f}x the keyframe path)")
    print(f"{'PASS' if median <= 1 else 'FAIL'}: {median:.3f} s / 1 s target = {median:.2f}")
    return 0 if median <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
