"""The pieces of the DAG tasks that need no running Airflow: summary, check, notifier, tick."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from witnessbox_airflow import collection, notify

from collectors.registry import dag_interval, tick_warning


def test_summary_counts_every_outcome_and_check_fails_the_run():
    from airflow.sdk.exceptions import AirflowFailException

    picked = [{"source_id": s, "label": s, "forced": False} for s in "abcde"]
    results = [
        {"source_id": "a", "status": "complete", "url": "u", "capture_id": "1", "reasons": []},
        {"source_id": "b", "status": "partial", "url": "u", "capture_id": "2", "reasons": ["x"]},
        {"source_id": "c", "status": "failed", "url": "u", "capture_id": "3",
         "reasons": ["http-404: Not Found"]},
        {"source_id": "d", "status": "skipped"},
        None,  # e's task died before it stored anything
    ]
    summary = collection.summarise(picked, results)
    assert summary == {"sources": 5, "counts": {"complete": 1, "partial": 1, "failed": 1,
                                                "skipped": 1, "no-capture": 1},
                       "failed_captures": [{"capture_id": "3", "source_id": "c"}]}
    with pytest.raises(AirflowFailException, match="1 failed, 1 no-capture of 5"):
        collection.check(summary)
    collection.check({"sources": 2, "counts": {"complete": 1, "partial": 1}})  # green


def test_reason_kind():
    assert collection.reason_kind(["http-404: Not Found"]) == "http-404"
    assert collection.reason_kind(["collector error: ValueError: x"]) == "collector error"
    assert collection.reason_kind([]) == "unknown"


def test_tick_warning_and_override():
    assert tick_warning("web", 3600, {}) is None
    warning = tick_warning("web", 60, {})
    assert "shorter than the witnessbox_web DAG's tick (5m)" in warning
    assert dag_interval("video", {"WITNESSBOX_DAG_TICK_SECONDS": "15"}) == 15


def test_watch_add_warns_about_an_every_shorter_than_the_tick(tmp_path):
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    env = {"WITNESSBOX_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([witnessbox, "watch", "add", "https://example.org/a", "--every", "1m"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "warning: every 1m is shorter than the witnessbox_web DAG's tick" in proc.stderr


def _settings(**kw):
    base = {"notifier": "", "notify_to": "", "notifier_args": ""}
    return SimpleNamespace(**{**base, **kw})


def _context():
    ti = SimpleNamespace(dag_id="witnessbox_fixity_audit", run_id="r1", task_id="audit")
    return {"ti": ti, "exception": RuntimeError("fixity audit found 1 problem(s)")}


def test_notifier_from_settings(tmp_path):
    assert notify.build_notifier(_settings(), _context()) is None
    smtp = notify.build_notifier(_settings(notifier="smtp", notify_to="a@x.org, b@x.org"), _context())
    assert type(smtp).__name__ == "SmtpNotifier" and smtp.to == ["a@x.org", "b@x.org"]
    assert "witnessbox_fixity_audit failed" in smtp.subject
    with pytest.raises(ValueError, match="notify_to"):
        notify.build_notifier(_settings(notifier="smtp"), _context())
    inbox = tmp_path / "inbox.json"
    custom = notify.build_notifier(
        _settings(notifier="tests.support.file_notifier:FileNotifier",
                  notifier_args=json.dumps({"path": str(inbox)})), _context())
    custom.notify(_context())
    told = json.loads(inbox.read_text())
    assert told["dag_id"] == "witnessbox_fixity_audit" and "fixity audit found" in told["text"]
