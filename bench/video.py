"""Video capture benchmark: a local 200 MB video, end to end vs bare yt-dlp, in the same run.

Target (issue: video): capturing the video through ``preservation.pipeline`` (download
through the guarded yt-dlp, decode check, info.json, digests, perceptual hashes and
metadata as the pipeline's enricher does them, store, manifest, catalogue) takes at most
1.3x the wall time of bare yt-dlp downloading the same file.

The video is generated once with ffmpeg in ``bench/.work/video/`` (not committed) and
served by ``python -m http.server`` in its own process on 127.0.0.1. Each measurement runs
in a fresh child process; both children first resolve one small URL so yt-dlp's extractor
regexes are compiled before the clock starts (otherwise both pay ~1-2 s of start-up and the
ratio looks better than it is). Figures are medians of ``--rounds``; the ratio is printed
last. Usage: python bench/video.py [--size-mib 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "video"

CHILD_BARE = r"""
import json, sys, time
import yt_dlp
url, small, out = sys.argv[1], sys.argv[2], sys.argv[3]
params = {"quiet": True, "noprogress": True, "outtmpl": out + "/%(id)s.%(ext)s"}
with yt_dlp.YoutubeDL(params) as ydl:
    ydl.extract_info(small, download=False)  # warm-up: extractor regexes compiled
t = time.perf_counter()
with yt_dlp.YoutubeDL(params) as ydl:
    ydl.download([url])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

CHILD_PIPELINE = r"""
import hashlib, json, os, sys, time
sys.path.insert(0, sys.argv[4])
url, small, home = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ["WITNESSBOX_HOME"] = home
os.environ["WITNESSBOX_ALLOW_PRIVATE_NETWORKS"] = "1"
import yt_dlp
from collectors.video import VideoCollector
from preservation import manifest as manifests, watchlist
from preservation.catalogue import Source
from preservation.pipeline import capture_source, open_runtime
from preservation.settings import load_settings

with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
    ydl.extract_info(small, download=False)  # the same warm-up as the bare run
rt = open_runtime(load_settings())
spec = watchlist.validate_entry(url, rt.policy, kind="video")
source_id = watchlist.add_source(rt.catalogue, spec, "bench", rt.clock()).id
with rt.catalogue.session() as session:
    source = session.get(Source, source_id)

class Timed(VideoCollector):
    seconds = 0.0
    def collect(self, source, ctx):
        t = time.perf_counter()
        try:
            return super().collect(source, ctx)
        finally:
            Timed.seconds = time.perf_counter() - t

rt.collectors["video"] = Timed()
t = time.perf_counter()
outcome = capture_source(rt, source)
elapsed = time.perf_counter() - t
manifest = manifests.parse(rt.store.read_bytes(outcome.manifest_key))
media = [a for a in manifest["artifacts"] if a["role"] == "media"]
rt.close()
print(json.dumps({"seconds": elapsed, "collect": Timed.seconds, "status": outcome.status,
                  "reasons": outcome.reasons, "sha256": [a["sha256"] for a in media],
                  "tools": sorted(manifest["tools"])}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_video(path: Path, size: int) -> None:
    """A high-bitrate 720p clip (noise defeats compression), looped with -c copy to ``size``."""
    if path.exists() and path.stat().st_size >= size:
        return
    seed = path.with_name("seed.mp4")
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=4,noise=alls=60:allf=t+u",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", str(seed),
    )  # fmt: skip
    loops = max(1, -(-size // seed.stat().st_size))
    ffmpeg("-stream_loop", str(loops - 1), "-i", str(seed), "-c", "copy",
           "-movflags", "+faststart", str(path))  # fmt: skip
    seed.unlink()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=5:d=1", "-pix_fmt", "yuv420p",
           str(path.with_name("small.mp4")))  # fmt: skip
    os.sync()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(directory: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def writable_rmtree(path: Path) -> None:
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
        shutil.rmtree(path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=1.3)
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    video = WORK / "video.mp4"
    make_video(video, args.size_mib << 20)
    size_mib = video.stat().st_size / (1 << 20)
    served = subprocess.run(["sha256sum", str(video)], capture_output=True, text=True, check=True)
    served_sha = served.stdout.split()[0]
    server, base = serve(WORK)
    url, small = f"{base}/video.mp4", f"{base}/small.mp4"
    bare: list[float] = []
    total: list[float] = []
    collect: list[float] = []
    try:
        for round_no in range(args.rounds):
            out = WORK / f"bare-{round_no}"
            home = WORK / f"home-{round_no}"
            writable_rmtree(out)
            writable_rmtree(home)
            bare.append(child(CHILD_BARE, url, small, str(out))["seconds"])
            result = child(CHILD_PIPELINE, url, small, str(home), str(ROOT))
            if result["status"] != "complete" or served_sha not in result["sha256"]:
                print(f"capture went wrong: {result}", file=sys.stderr)
                return 1
            total.append(result["seconds"])
            collect.append(result["collect"])
            writable_rmtree(out)
            writable_rmtree(home)
    finally:
        server.terminate()
        server.wait()

    b, t, c = (statistics.median(x) for x in (bare, total, collect))
    print(f"video: {size_mib:.0f} MiB served on 127.0.0.1, {args.rounds} rounds, medians")
    print(f"  bare yt-dlp download                 {b:6.3f} s  {size_mib / b:7.1f} MiB/s")
    print(f"  witnessbox capture, end to end       {t:6.3f} s  {size_mib / t:7.1f} MiB/s")
    print(f"    of which the collector (yt-dlp, probe, info.json)   {c:6.3f} s")
    print(f"    of which store, digests, enrichment, manifest, index {t - c:6.3f} s")
    print(f"  tools in the manifest: {', '.join(result['tools'])}")
    ratio = t / b
    verdict = "PASS" if ratio <= args.max_ratio else "FAIL"
    print(f"capture / bare yt-dlp: ratio {ratio:.3f} (target ≤ {args.max_ratio}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
