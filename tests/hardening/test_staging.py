"""Staging left by a run killed while collecting: swept, listed, committed or set aside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from kernel.netpolicy import NetworkPolicy
from preservation.catalogue import watchlist
from preservation.cli.main import main
from preservation.custody.audit import run_audit
from preservation.formats import manifest as manifests
from preservation.pipeline import resume_pending
from preservation.runtime import open_runtime
from preservation.staging import sweep

ROOT = Path(__file__).resolve().parents[2]

# a collector that writes part of its files, signals, and waits to be killed
KILLED_WHILE_COLLECTING = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from collectors.base import CollectedCapture
    from kernel.settings import load_settings
    from preservation.catalogue.models import Source
    from preservation.runner import capture_source
    from preservation.runtime import open_runtime
    from tests.support.fake_collector import StaticCollector

    class Slow(StaticCollector):
        def collect(self, source, ctx):
            (ctx.staging / "page.warc.gz").write_bytes(b"half a warc")
            (ctx.staging / "shot.png").write_bytes(b"\\x89PNG not really")
            Path({marker!r}).write_text("collecting")
            time.sleep(600)
            return CollectedCapture("complete")

    rt = open_runtime(load_settings())
    rt.collectors["web"] = Slow()
    with rt.catalogue.session() as session:
        source = session.get(Source, {source_id!r})
    capture_source(rt, source)
    """
)


def add(rt, url="https://example.org/killed"):
    spec = watchlist.validate_entry(url, NetworkPolicy(), kind="web")
    return watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())


def kill_while_collecting(tmp_path, source_id) -> None:
    marker = tmp_path / "collecting"
    script = KILLED_WHILE_COLLECTING.format(root=str(ROOT), marker=str(marker), source_id=source_id)
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    deadline = time.monotonic() + 60
    try:
        while not marker.exists():
            assert proc.poll() is None, "the capture process ended before collecting"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_live_collection_is_left_alone_and_empty_leftovers_go(settings, runtime, tmp_path):
    from preservation.runtime import file_lock

    rt = runtime
    empty = settings.staging / "0190aaaa-0000-7000-8000-000000000001"
    (empty / "files" / "sub").mkdir(parents=True)
    live = settings.staging / "0190aaaa-0000-7000-8000-000000000002"
    (live / "files").mkdir(parents=True)
    with file_lock(live.with_suffix(".lock")):
        assert resume_pending(rt) == [] and sweep(rt) == []
        assert live.is_dir(), "a directory a run holds is never touched"
    assert not empty.exists(), "an abandoned empty staging directory is removed"
    assert not empty.with_suffix(".lock").exists()
    (live / "files" / "a.bin").write_bytes(b"x")
    (leftover,) = sweep(rt)
    assert leftover.capture_id == live.name and leftover.files == 1 and leftover.source_id is None


def test_killed_collection_is_listed_committed_whole_and_verifies(settings, capsys, tmp_path):
    rt = open_runtime(settings)
    source = add(rt)
    rt.close()
    kill_while_collecting(tmp_path, source.id)
    (staged,) = [p for p in settings.staging.iterdir() if p.is_dir()]
    assert not (staged / "pending.json").exists() and (staged / "started.json").is_file()

    assert cli(capsys, "watch", "pause", source.id)[0] == 0  # (no network in tests)
    code, out, err = cli(capsys, "run")  # the next run sweeps staging and keeps it
    assert code == 0 and staged.is_dir(), err
    code, out, _ = cli(capsys, "staging", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["capture_id"] == staged.name and listed["files"] == 2
    assert listed["source_id"] == source.id and listed["url"] == "https://example.org/killed"

    code, out, err = cli(capsys, "staging", "commit", staged.name, "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["capture_id"] == staged.name and outcome["status"] == "partial"
    assert outcome["reasons"][0] == "collection interrupted"
    assert not staged.exists()
    rt = open_runtime(settings)
    try:
        manifest = manifests.parse(rt.store.read_bytes(outcome["manifest_key"]))
        roles = {a["name"]: a["role"] for a in manifest["artifacts"]}
        assert roles["page.warc.gz"] == "warc" and roles["shot.png"] == "media"
        assert manifest["source"]["id"] == source.id
        assert run_audit(rt, capture_id=staged.name).ok
    finally:
        rt.close()
    assert cli(capsys, "verify", "--all")[0] == 0
    assert cli(capsys, "staging", "list", "--json")[1].strip() == "[]"


def test_set_aside_moves_and_keeps(settings, capsys):
    staged = settings.staging / "0190aaaa-0000-7000-8000-0000000000aa"
    (staged / "files").mkdir(parents=True)
    (staged / "files" / "only-copy.mp4").write_bytes(b"video bytes")
    code, out, err = cli(capsys, "staging", "set-aside", staged.name)
    assert code == 0, err
    kept = settings.home / "staging-set-aside" / staged.name
    assert (kept / "files" / "only-copy.mp4").read_bytes() == b"video bytes"
    assert json.loads((kept / "set-aside.json").read_text())["set_aside_by"]
    assert not staged.exists()
    assert cli(capsys, "staging", "list", "--json")[1].strip() == "[]"


def test_commit_without_started_needs_a_source(settings, capsys):
    rt = open_runtime(settings)
    source = add(rt)
    rt.close()
    staged = settings.staging / "0190aaaa-0000-7000-8000-0000000000bb"
    (staged / "files").mkdir(parents=True)
    (staged / "files" / "post.json").write_bytes(b'{"text": "deleted since"}')
    code, _, err = cli(capsys, "staging", "commit", staged.name)
    assert code == 2 and "give --source" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "staging", "commit", staged.name, "--source", "src-nope")
    assert code == 2 and "unknown source" in err
    code, out, err = cli(capsys, "staging", "commit", staged.name, "--source", source.id, "--json")
    assert code == 0, err and json.loads(out)["status"] == "partial"


def test_staging_ids_are_checked(settings, capsys):
    for bad in ("../../etc", "0190aaaa-0000-7000-8000-0000000000cc", "x" * 300, ""):
        code, out, err = cli(capsys, "staging", "commit", bad)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (bad, err)
        code, out, err = cli(capsys, "staging", "set-aside", bad)
        assert code == 2 and err.count("\n") == 1
