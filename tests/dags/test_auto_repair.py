"""The fixity audit DAG's task repairs damaged copies when ``auto_repair`` is on."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import IntegrityError
from kernel.settings import load_settings
from preservation.runtime import open_runtime
from tests.support.custody_helpers import capture, flip_byte


@pytest.fixture
def file_replica(wb_env, tmp_path):
    home = Path(wb_env["WITNESSBOX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / "copy"
    (home / "witnessbox.toml").write_text(f'[[replicas]]\nname = "copy"\nurl = "file://{copy}"\n')
    rt = open_runtime(load_settings())
    try:
        outcome = capture(rt, {"page.html": b"<p>kept twice</p>"})
    finally:
        rt.close()
    manifest = (home / "store" / outcome.manifest_key).read_text()
    key = next(line.split('"')[3] for line in manifest.splitlines() if '"key": "blobs/' in line)
    return copy / key


@pytest.fixture
def run_audit_task(monkeypatch):
    """The DAG's audit function, with the run context a task would have."""
    from witnessbox_airflow import custody_dags
    context = {"via": "airflow", "dag_id": "witnessbox_fixity_audit", "task_id": "audit"}
    monkeypatch.setattr(custody_dags, "run_context", lambda: context)

    def run():
        return custody_dags.audit_fixity(0)  # opens and closes its own runtime

    return run


def test_the_audit_task_fails_on_a_damaged_replica_without_auto_repair(
    file_replica, run_audit_task
):
    flip_byte(file_replica)
    with pytest.raises(IntegrityError, match="1 not repaired"):
        run_audit_task()


def test_the_audit_task_repairs_a_damaged_replica_with_auto_repair(
    file_replica, run_audit_task, monkeypatch
):
    monkeypatch.setenv("WITNESSBOX_AUTO_REPAIR", "1")
    flip_byte(file_replica)
    summary = run_audit_task()
    (fix,) = summary["repairs"]
    assert fix["copy"] == "copy" and fix["source"] == "primary" and fix["ok"]
    assert file_replica.read_bytes() == b"<p>kept twice</p>"
    assert run_audit_task()["ok"]
