"""Video capture benchmark: a local 200 MB video, end to end vs bare yt-dlp, in the same run.

Target (issue: video): capturing the video through ``preservation.pipeline`` (download
through the guarded yt-dlp with the hashing tee, decode check, info.json, sha256/sha512/md5,
perceptual hashes, exiftool metadata, store, manifest, catalogue) takes at most 1.3x the
wall time of bare yt-dlp downloading the same file.

The video is generated once with ffmpeg in ``bench/.work/video/`` (not committed) and
served by ``python -m http.server`` in its own process on 127.0.0.1. Each measurement runs
in a fresh child process, and each child first handles a small clip the same way it then
handles the big one (bare: downloads it; witnessbox: captures it through the pipeline), so
one-time process costs (imports of yt-dlp, SQLAlchemy, PyAV, SciPy; compiled extractor
regexes) are outside the clock on both sides: the figures are a worker's steady state.
The one-time import cost of the enrichment libraries is printed separately.

Besides wall time, each child reports the CPU seconds it used (its own and its waited-for
helper processes: ffprobe, exiftool): on a machine with few cores, the digests' CPU time
bounds how close to the bare download a capture can get. Figures are medians of
``--rounds``; the ratio is printed last. Usage: python bench/video.py [--size-mib 200]
[--rounds 3] [--rate-limit-mib N]
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

CPU = r"""
import resource
def cpu():
    own, helpers = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime
"""

CHILD_BARE = (
    CPU
    + r"""
import json, sys, time
import yt_dlp
url, small, out, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
params = {"quiet": True, "noprogress": True, "outtmpl": out + "/%(id)s.%(ext)s"}
if rate:
    params["ratelimit"] = rate
with yt_dlp.YoutubeDL(params) as ydl:
    ydl.download([small])  # warm-up: the same work on a small clip
t, c = time.perf_counter(), cpu()
with yt_dlp.YoutubeDL(params) as ydl:
    ydl.download([url])
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": cpu() - c}))
"""
)

CHILD_PIPELINE = (
    CPU
    + r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[4])
url, small, home, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[5])
os.environ["WITNESSBOX_HOME"] = home
os.environ["WITNESSBOX_ALLOW_PRIVATE_NETWORKS"] = "1"
t = time.perf_counter()
import av, imagehash, pdqhash, scipy.fftpack  # what the enricher imports on first use
imports = time.perf_counter() - t
from collectors.video.collector import VideoCollector
from preservation.formats import manifest as manifests
from preservation.catalogue import watchlist
from preservation.catalogue.models import Source
from preservation.runner import capture_source
from preservation.runtime import open_runtime
from kernel.settings import load_settings

rt = open_runtime(load_settings())

def source_for(address):
    options = {"rate_limit": rate} if rate else {}
    spec = watchlist.validate_entry(address, rt.policy, kind="video", options=options)
    source_id = watchlist.add_source(rt.catalogue, spec, "bench", rt.clock()).id
    with rt.catalogue.session() as session:
        return session.get(Source, source_id)

class Timed(VideoCollector):
    seconds = 0.0
    def collect(self, source, ctx):
        t = time.perf_counter()
        try:
            return super().collect(source, ctx)
        finally:
            Timed.seconds = time.perf_counter() - t

rt.collectors["video"] = Timed()
warm = capture_source(rt, source_for(small))  # warm-up: the same work on a small clip
assert warm.status == "complete", warm.reasons
source = source_for(url)
t, c = time.perf_counter(), cpu()
outcome = capture_source(rt, source)
elapsed, used = time.perf_counter() - t, cpu() - c
manifest = manifests.parse(rt.store.read_bytes(outcome.manifest_key))
media = [a for a in manifest["artifacts"] if a["role"] == "media"]
rt.close()
print(json.dumps({"seconds": elapsed, "cpu": used, "collect": Timed.seconds,
                  "imports": imports, "status": outcome.status, "reasons": outcome.reasons,
                  "sha256": [a["sha256"] for a in media], "tools": sorted(manifest["tools"])}))
"""
)


def child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_video(path: Path, size: int) -> None:
    """A high-bitrate 720p clip (noise defeats compression), looped with -c copy to ``size``."""
    if path.exists() and abs(path.stat().st_size - size) < size // 20:
        return
    seed = path.with_name("seed.mp4")
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=4,noise=alls=60:allf=t+u",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", str(seed),
    )  # fmt: skip
    loops = max(1, -(-size // seed.stat().st_size))
    ffmpeg("-stream_loop", str(loops - 1), "-i", str(seed), "-c", "copy", "-fs", str(size),
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
    parser.add_argument(
        "--rate-limit-mib",
        type=float,
        default=0,
        help="cap both downloads (yt-dlp ratelimit) to emulate a link of this many MiB/s",
    )
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    video = WORK / "video.mp4"
    make_video(video, args.size_mib << 20)
    size_mib = video.stat().st_size / (1 << 20)
    served = subprocess.run(["sha256sum", str(video)], capture_output=True, text=True, check=True)
    served_sha = served.stdout.split()[0]
    rate = int(args.rate_limit_mib * (1 << 20))
    server, base = serve(WORK)
    url, small = f"{base}/video.mp4", f"{base}/small.mp4"
    bare: list[float] = []
    bare_cpu: list[float] = []
    total: list[float] = []
    total_cpu: list[float] = []
    collect: list[float] = []
    imports: list[float] = []
    try:
        for round_no in range(args.rounds):
            out = WORK / f"bare-{round_no}"
            home = WORK / f"home-{round_no}"
            writable_rmtree(out)
            writable_rmtree(home)
            plain = child(CHILD_BARE, url, small, str(out), str(rate))
            bare.append(plain["seconds"])
            bare_cpu.append(plain["cpu"])
            result = child(CHILD_PIPELINE, url, small, str(home), str(ROOT), str(rate))
            if result["status"] != "complete" or served_sha not in result["sha256"]:
                print(f"capture went wrong: {result}", file=sys.stderr)
                return 1
            total.append(result["seconds"])
            total_cpu.append(result["cpu"])
            collect.append(result["collect"])
            imports.append(result["imports"])
            writable_rmtree(out)
            writable_rmtree(home)
    finally:
        server.terminate()
        server.wait()

    b, t, c = (statistics.median(x) for x in (bare, total, collect))
    bc, tc, im = (statistics.median(x) for x in (bare_cpu, total_cpu, imports))
    cores = len(os.sched_getaffinity(0))
    link = f"capped at {args.rate_limit_mib:g} MiB/s" if rate else "no rate limit"
    print(
        f"video: {size_mib:.0f} MiB served on 127.0.0.1 ({link}), {args.rounds} rounds, "
        f"medians, {cores} cores"
    )
    print(
        f"  bare yt-dlp download                 {b:6.3f} s  {size_mib / b:7.1f} MiB/s  cpu {bc:5.2f} s"
    )
    print(
        f"  witnessbox capture, end to end       {t:6.3f} s  {size_mib / t:7.1f} MiB/s  cpu {tc:5.2f} s"
    )
    print(f"    of which the collector (yt-dlp + tee digests, probe, info.json) {c:6.3f} s")
    print(f"    of which store, enrichment, manifest, index                    {t - c:6.3f} s")
    print(f"  one-time import of the enrichment libraries (per process)      {im:6.3f} s")
    print(
        f"  capture floor on {cores} cores: cpu / cores = {tc / cores:.3f} s "
        f"(ratio {tc / cores / b:.2f})"
    )
    print(f"  tools in the manifest: {', '.join(result['tools'])}")
    print(
        f"  rounds: bare {' '.join(f'{x:.3f}' for x in bare)}; "
        f"capture {' '.join(f'{x:.3f}' for x in total)}"
    )
    ratio = t / b
    verdict = "PASS" if ratio <= args.max_ratio else "FAIL"
    print(f"capture / bare yt-dlp: ratio {ratio:.3f} (target ≤ {args.max_ratio}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
