"""Video capture benchmark: a local 200 MB video, end to end vs bare yt-dlp, in the same run.

Three figures (issue: scale), each against a baseline measured in the same run:

- **loopback** (no rate limit): capturing the video through ``preservation.pipeline``
  (download through the guarded yt-dlp with the hashing tee, decode check, info.json,
  sha256/sha512/md5, keyframe hashes, exiftool metadata, store, manifest, catalogue)
  takes at most 2.5x the wall time of bare yt-dlp downloading the same file;
- **capped**: both downloads limited to 100 MiB/s (a gigabit link, yt-dlp's ratelimit on
  both sides): at most 1.3x;
- **cpu**: the capture's CPU seconds per GiB at most 1.5x the floor of the work it must
  do, the three digests and the keyframe hashes alone (a third child process computes
  them over the same file, page cache warm).

The video is generated once with ffmpeg in ``bench/.work/video/`` (not committed) and
served by ``python -m http.server`` in its own process on 127.0.0.1. Each measurement runs
in a fresh child process, and each child first handles a small clip the same way it then
handles the big one (bare: downloads it; witnessbox: captures it; floor: hashes it), so
one-time process costs (imports of yt-dlp, SQLAlchemy, PyAV, SciPy; compiled extractor
regexes) are outside the clock on all sides: the figures are a worker's steady state.
CPU seconds include the waited-for helper processes (exiftool). Rounds alternate bare and
capture; figures are medians of ``--rounds``, with the machine's load average printed.
Usage: python bench/video.py [--size-mib 200] [--rounds 3] [--rate-limit-mib 100]
[--only loopback,capped,cpu]
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


CHILD_FLOOR = (
    CPU
    + r"""
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[3])
from hashing.video import hash_video
path, small = sys.argv[1], sys.argv[2]
def digests(p):
    hashers = [hashlib.sha256(), hashlib.sha512(), hashlib.md5()]
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in hashers:
                h.update(chunk)
digests(small); hash_video(small)  # warm-up
with open(path, "rb") as f:  # page cache warm, as the capture's bytes are in memory
    while f.read(1 << 24):
        pass
c = cpu(); digests(path); d = cpu() - c
c = cpu(); result = hash_video(path); k = cpu() - c
print(json.dumps({"digests": d, "keyframes": k, "hashes": len(result.hashes)}))
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


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def rounds(url: str, small: str, served_sha: str, rate: int, count: int) -> dict:
    """Bare and capture alternately, ``count`` times: medians, and every round's times."""
    runs: dict[str, list[float]] = {k: [] for k in ("bare", "bare_cpu", "total", "cpu", "collect")}
    tools: list[str] = []
    for round_no in range(count):
        out, home = WORK / f"bare-{round_no}", WORK / f"home-{round_no}"
        writable_rmtree(out)
        writable_rmtree(home)
        plain = child(CHILD_BARE, url, small, str(out), str(rate))
        result = child(CHILD_PIPELINE, url, small, str(home), str(ROOT), str(rate))
        writable_rmtree(out)
        writable_rmtree(home)
        if result["status"] != "complete" or served_sha not in result["sha256"]:
            raise SystemExit(f"capture went wrong: {result}")
        runs["bare"].append(plain["seconds"])
        runs["bare_cpu"].append(plain["cpu"])
        runs["total"].append(result["seconds"])
        runs["cpu"].append(result["cpu"])
        runs["collect"].append(result["collect"])
        tools = result["tools"]
    medians = {k: statistics.median(v) for k, v in runs.items()}
    return {**medians, "runs": runs, "tools": tools}


def report_pair(name: str, figures: dict, size_mib: float, target: float) -> bool:
    b, t, c = figures["bare"], figures["total"], figures["collect"]
    runs = figures["runs"]
    print(f"  {name}: bare yt-dlp {b:6.3f} s ({size_mib / b:6.1f} MiB/s, cpu {figures['bare_cpu']:.2f} s); "
          f"capture {t:6.3f} s ({size_mib / t:6.1f} MiB/s, cpu {figures['cpu']:.2f} s; collector {c:.3f} s)")
    print(f"    rounds: bare {' '.join(f'{x:.3f}' for x in runs['bare'])}; "
          f"capture {' '.join(f'{x:.3f}' for x in runs['total'])}")
    ratio = t / b
    ok = ratio <= target
    print(f"  {name} capture / bare yt-dlp: ratio {ratio:.3f} (target ≤ {target}) {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-limit-mib", type=float, default=100,
                        help="the capped figure's link: both downloads limited to this many MiB/s")
    parser.add_argument("--only", default="loopback,capped,cpu",
                        help="which figures (cpu uses the loopback rounds)")
    parser.add_argument("--max-loopback", type=float, default=2.5)
    parser.add_argument("--max-capped", type=float, default=1.3)
    parser.add_argument("--max-cpu", type=float, default=1.5)
    args = parser.parse_args()
    wanted = set(args.only.split(","))

    WORK.mkdir(parents=True, exist_ok=True)
    video = WORK / "video.mp4"
    make_video(video, args.size_mib << 20)
    size_mib = video.stat().st_size / (1 << 20)
    served = subprocess.run(["sha256sum", str(video)], capture_output=True, text=True, check=True)
    served_sha = served.stdout.split()[0]
    rate = int(args.rate_limit_mib * (1 << 20))
    server, base = serve(WORK)
    url, small = f"{base}/video.mp4", f"{base}/small.mp4"
    cores = len(os.sched_getaffinity(0))
    print(f"video: {size_mib:.0f} MiB served on 127.0.0.1, {args.rounds} rounds, medians, "
          f"{cores} cores, load average before {load()}")
    verdicts: dict[str, bool] = {}
    try:
        loop = None
        if wanted & {"loopback", "cpu"}:
            loop = rounds(url, small, served_sha, 0, args.rounds)
            if "loopback" in wanted:
                verdicts["loopback"] = report_pair("loopback (no cap)", loop, size_mib, args.max_loopback)
        if "capped" in wanted:
            capped = rounds(url, small, served_sha, rate, args.rounds)
            name = f"capped at {args.rate_limit_mib:g} MiB/s"
            verdicts["capped"] = report_pair(name, capped, size_mib, args.max_capped)
        if "cpu" in wanted and loop is not None:
            floors = [child(CHILD_FLOOR, str(video), str(WORK / "small.mp4"), str(ROOT))
                      for _ in range(args.rounds)]
            d = statistics.median(f["digests"] for f in floors)
            k = statistics.median(f["keyframes"] for f in floors)
            gib = size_mib / 1024
            floor, used = (d + k) / gib, loop["cpu"] / gib
            print(f"  cpu per GiB: floor {floor:.2f} s (digests {d / gib:.2f} + keyframes "
                  f"{k / gib:.2f}); capture {used:.2f} s (bare yt-dlp {loop['bare_cpu'] / gib:.2f})")
            ratio = used / floor
            verdicts["cpu"] = ratio <= args.max_cpu
            print(f"  cpu capture / floor: ratio {ratio:.3f} (target ≤ {args.max_cpu}) "
                  f"{'PASS' if verdicts['cpu'] else 'FAIL'}")
    finally:
        server.terminate()
        server.wait()
    if loop is not None:
        print(f"  tools in the manifest: {', '.join(loop['tools'])}")
    print(f"  load average after {load()}")
    summary = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in verdicts.items())
    print(f"video: {summary}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
