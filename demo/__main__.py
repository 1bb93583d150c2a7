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


def step(
    env: dict[str, str], *args: str, check: bool = True, echo: bool = True
) -> subprocess.CompletedProcess[str]:
    print(f"\n$ witnessbox {' '.join(args)}", flush=True)
    proc = subprocess.run([WITNESSBOX, *args], env=env, text=True, capture_output=True)
    if proc.stdout and echo:
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
        verified = custody_steps(env)
    finally:
        for sample in started:
            sample.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\ndemo finished: captures are in", env["WITNESSBOX_HOME"])
    return 0 if verified else 1


def custody_steps(env: dict[str, str]) -> bool:
    """custody: seal against a local RFC 3161 TSA, verify everything, check the ledger,
    and end with a table of captures, digests and verification status."""
    from demo.tsa_local import LocalTSA

    # a stand-in TSA (openssl ts) on 127.0.0.1, its keys kept in the demo home
    tsa = LocalTSA(Path(env["WITNESSBOX_HOME"]) / "demo-tsa").start()
    try:
        print(f"\n(local RFC 3161 TSA at {tsa.url}; its CA: {tsa.ca_pem})")
        step(env, "seal", "--tsa", tsa.url, "--trust", str(tsa.ca_pem))
    finally:
        tsa.stop()
    proc = step(env, "verify", "--all", "--json", check=False, echo=False)
    print("(report kept for the table below)")
    ledger = step(env, "ledger", "verify", check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"demo: verify failed: {proc.stderr.strip()}") from None
    rows = [
        [
            c["capture_id"][:18] + "…",
            a["name"],
            a["sha256"],
            "yes" if c["signed_by"] else "NO",
            c["sealed"][0]["times"][0][:19] if c["sealed"] else "-",
            "ok" if c["status"] == "ok" else "FAILED",
        ]
        for c in report["captures"]
        for a in (c["artifacts"] or [{"name": "(manifest only)", "sha256": c["manifest_sha256"]}])
    ]
    print("\nCaptures, their digests and verification status:")
    if rows:
        widths = [max(len(str(r[i])) for r in rows) for i in range(6)]
        headers = ["CAPTURE", "ARTIFACT", "SHA256", "SIGNED", "SEALED (UTC)", "VERIFIED"]
        widths = [max(w, len(h)) for w, h in zip(widths, headers, strict=True)]
        for row in [headers, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    else:
        print("(no captures)")
    for problem in report["problems"]:
        print(f"FAIL {problem['kind']}: {problem['subject']} {problem['detail']}")
    print(
        f"{len(report['captures'])} capture(s), {report['checked']['blobs']} blob(s) re-read: "
        + ("all verified" if report["ok"] else "VERIFICATION FAILED")
        + ("; ledger chain intact" if ledger.returncode == 0 else "; LEDGER BROKEN")
    )
    return bool(report["ok"]) and ledger.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
