"""Run the demo: init, watch the bundled samples, capture them, list and verify the result.

Every step is a real ``witnessbox`` command, printed before it runs, so a newcomer can
repeat it by hand. The samples are served on 127.0.0.1, which the network policy refuses
by default: the demo allows private networks for its own commands only.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from demo.samples import SAMPLES, Sample

ROOT = Path(__file__).resolve().parents[1]
WITNESSBOX = str(Path(sys.executable).with_name("witnessbox"))


def step(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"\n$ witnessbox {' '.join(args)}", flush=True)
    proc = subprocess.run([WITNESSBOX, *args], env=env, text=True, capture_output=True)
    if proc.stdout:
        print(proc.stdout.rstrip())
    if proc.stderr:
        print(proc.stderr.rstrip(), file=sys.stderr)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo: `witnessbox {' '.join(args)}` exited {proc.returncode}")
    return proc


def has_command(env: dict[str, str], *words: str) -> bool:
    proc = subprocess.run([WITNESSBOX, *words, "--help"], env=env, capture_output=True, text=True)
    return proc.returncode == 0


def source_id_for(env: dict[str, str], sample: Sample) -> str:
    listing = subprocess.run(
        [WITNESSBOX, "watch", "list", "--json", "--all"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for source in json.loads(listing.stdout):
        if source["kind"] == sample.kind and source["url"].rstrip("/") == sample.url.rstrip("/"):
            return source["id"]
    raise SystemExit(f"demo: {sample.url} is not in the watchlist")


def main() -> int:
    env = dict(os.environ)
    env.setdefault("WITNESSBOX_HOME", str(ROOT / "witnessbox-data"))
    env["WITNESSBOX_ALLOW_PRIVATE_NETWORKS"] = "1"  # the samples live on 127.0.0.1
    print(f"witnessbox demo: home {env['WITNESSBOX_HOME']}")
    step(env, "init")
    workdir = Path(tempfile.mkdtemp(prefix="witnessbox-demo-"))
    started: list[Sample] = []
    try:
        for name in SAMPLES:
            sample = importlib.import_module(name).start(workdir)
            started.append(sample)
            env.update(sample.env)
            args = [
                "watch",
                "add",
                sample.url,
                "--kind",
                sample.kind,
                "--tag",
                "demo",
                "--case",
                "DEMO-1",
                "--note",
                f"bundled sample: {sample.name}",
            ]
            for key, value in sample.options.items():
                args += ["--option", f"{key}={json.dumps(value)}"]
            proc = step(env, *args, check=False)
            if proc.returncode not in (0, 2):
                raise SystemExit("demo: could not add the sample")
            sample_id = source_id_for(env, sample)
            step(env, "run", "--source", sample_id)
        if not started:
            print("\n(no bundled samples in this build yet)")
        step(env, "watch", "list")
        step(env, "captures")
        if has_command(env, "seal"):
            step(env, "seal")
        if has_command(env, "verify"):
            step(env, "verify", "--all")
        if has_command(env, "ledger"):
            step(env, "ledger", "verify")
    finally:
        for sample in started:
            sample.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\ndemo finished: captures are in", env["WITNESSBOX_HOME"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
