"""The DAGs load without import errors, and one really runs a capture with Airflow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import custody_tsa

local_tsa = custody_tsa.local_tsa
ROOT = Path(__file__).resolve().parents[2]


LOAD = textwrap.dedent(
    """
    import json
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={dags!r})
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                      "dags": {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dags}}))
    """
)


@pytest.mark.slow
def test_dags_load_cleanly(airflow_env):
    proc = subprocess.run([sys.executable, "-c", LOAD.replace("{dags!r}", repr(str(ROOT / "dags")))], env=airflow_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    for kind in ("web", "video", "telegram"):
        assert result["dags"][f"witnessbox_{kind}"] == ["announce_failed", "capture", "check", "due_sources", "record"]
    assert result["dags"]["witnessbox_seal"] == ["seal"]
    assert result["dags"]["witnessbox_fixity_audit"] == ["audit"]


RUN = textwrap.dedent(
    """
    import sys
    from airflow.dag_processing.dagbag import DagBag
    import collectors.registry as registry
    registry.COLLECTORS["web"] = "tests.support.fake_collector:StaticCollectorWithPage"
    bag = DagBag(dag_folder={dags!r})
    run = bag.dags["witnessbox_web"].test()
    print("STATE", run.state)
    """
)


@pytest.mark.slow
def test_web_dag_captures_every_due_source(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    ids = []
    for url in ("https://example.org/one", "https://example.org/two"):
        out = subprocess.run([witnessbox, "watch", "add", url, "--json"], env=env, capture_output=True,
                             text=True, check=True).stdout
        ids.append(json.loads(out)["id"])
    proc = subprocess.run([sys.executable, "-c", RUN.replace("{dags!r}", repr(str(ROOT / "dags")))], env=env,
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert "STATE success" in proc.stdout, (proc.stdout[-3000:], proc.stderr[-3000:])
    listing = subprocess.run([witnessbox, "captures", "--json"], env=env, capture_output=True, text=True,
                             check=True).stdout
    captures = json.loads(listing)
    assert sorted(c["source_id"] for c in captures) == sorted(ids)
    shown = json.loads(subprocess.run([witnessbox, "show", captures[0]["id"], "--json"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    run = shown["manifest"]["capture"]["run"]
    assert run["via"] == "airflow" and run["dag_id"] == "witnessbox_web" and run["task_id"] == "capture"
    # nothing is due right after: a second run captures nothing new
    proc = subprocess.run([sys.executable, "-c", RUN.replace("{dags!r}", repr(str(ROOT / "dags")))], env=env,
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert "STATE success" in proc.stdout
    again = json.loads(subprocess.run([witnessbox, "captures", "--json"], env=env, capture_output=True,
                                      text=True, check=True).stdout)
    assert len(again) == 2


CUSTODY = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    import collectors.registry as registry
    registry.COLLECTORS["web"] = "tests.support.fake_collector:StaticCollectorWithPage"
    bag = DagBag(dag_folder={dags!r})
    dag_id, conf = sys.argv[1], json.loads(sys.argv[2])
    run = bag.dags[dag_id].test(run_conf=conf)
    print("STATE", run.state)
    """
)


@pytest.mark.slow
def test_seal_and_fixity_audit_dags(airflow_env, tmp_path, local_tsa):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([witnessbox, *args], env=env, capture_output=True, text=True)

    def dag(dag_id: str, conf: dict | None = None) -> str:
        script = CUSTODY.replace("{dags!r}", repr(str(ROOT / "dags")))
        proc = subprocess.run([sys.executable, "-c", script, dag_id, json.dumps(conf or {})],
                              env=env, capture_output=True, text=True, timeout=600, cwd=str(ROOT))
        assert "STATE" in proc.stdout, proc.stderr[-3000:]
        return proc.stdout.split("STATE", 1)[1].strip() + "\n" + proc.stderr

    assert cli("watch", "add", "https://example.org/one").returncode == 0
    assert dag("witnessbox_web").startswith("success")
    # no TSA configured yet: the seal task is skipped, the run does not fail
    assert dag("witnessbox_seal").startswith("success")
    unsealed = json.loads(cli("--json", "verify", "--all").stdout)
    assert [c["sealed"] for c in unsealed["captures"]] == [[]]
    # trust the local TSA's CA (the seal itself fails: nothing listens there)
    trusting = cli("seal", "--trust", str(local_tsa.ca_pem), "--tsa", custody_tsa.dead_url())
    assert "now trusting TSA root" in trusting.stderr, trusting.stderr
    env["WITNESSBOX_TSA_URLS"] = local_tsa.url
    assert dag("witnessbox_seal").startswith("success")
    audited = json.loads(cli("--json", "verify", "--all").stdout)
    assert audited["ok"] and all(c["sealed"] for c in audited["captures"])

    assert dag("witnessbox_fixity_audit", {"sample": 0}).startswith("success")
    # damage one stored blob: the scheduled audit fails and names it
    blobs = sorted((tmp_path / "wb" / "store" / "blobs").rglob("*"))
    victim = next(b for b in blobs if b.is_file())
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    out = dag("witnessbox_fixity_audit", {"sample": 0})
    assert out.startswith("failed"), out[-3000:]
    entries = json.loads(cli("--json", "ledger", "list").stdout)
    last = entries[-1]
    assert last["event"] == "failed-audit", last
    assert last["actor"] == "airflow:witnessbox_fixity_audit/audit"
    assert any(victim.name in problem for problem in last["data"]["problems"]), last
    assert [e["event"] for e in entries].count("audited") == 3  # two by the CLI, one by Airflow
    # the scheduled audit runs the ledger check too: a removed entry fails it
    entry = tmp_path / "wb" / "store" / "ledger" / "000000000002.json"
    entry.chmod(0o644)
    entry.unlink()
    out = dag("witnessbox_fixity_audit", {"sample": 0})
    assert out.startswith("failed"), out[-3000:]
    last = json.loads(cli("--json", "ledger", "list").stdout)[-1]
    assert any(p.startswith("missing-entry: ledger/") for p in last["data"]["problems"]), last


TRUTH = textwrap.dedent(
    """
    import json
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    import collectors.registry as registry
    registry.COLLECTORS["web"] = "tests.support.fake_collector:GoneOrPageCollector"
    bag = DagBag(dag_folder={dags!r})
    run = bag.dags["witnessbox_web"].test()
    with create_session() as s:
        tis = [(t.task_id, t.map_index, t.rendered_map_index, t.state, t.try_number)
               for t in s.query(TaskInstance).filter(TaskInstance.run_id == run.run_id)]
        summary = s.query(XComModel).filter(XComModel.run_id == run.run_id, XComModel.task_id == "record", XComModel.key == "return_value").one().value
        events = [(e.source_task_id, e.extra) for e in s.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id)]
    print("RESULT" + json.dumps({"state": str(run.state), "tis": tis, "summary": summary, "events": events}, default=str))
    """
)


@pytest.mark.slow
def test_failed_capture_fails_its_task_once_and_the_run(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    for url in ("https://example.org/fine", "https://example.org/gone"):
        subprocess.run([witnessbox, "watch", "add", url], env=env, check=True, capture_output=True)
    proc = subprocess.run([sys.executable, "-c", TRUTH.replace("{dags!r}", repr(str(ROOT / "dags")))], env=env,
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, (proc.stdout[-3000:], proc.stderr[-3000:])
    out = json.loads(lines[0][6:])
    assert out["state"].endswith("failed"), out
    tis = {(t[0], t[2] or ""): (t[3], t[4]) for t in out["tis"]}
    # mapped tasks are named by their source's URL, also the one that failed; it ran once
    assert tis[("capture", "https://example.org/gone")] == ("failed", 1), tis
    assert tis[("capture", "https://example.org/fine")][0] == "success"
    assert tis[("record", "")][0] == "success" and tis[("check", "")][0] == "failed"
    assert out["summary"]["counts"] == {"complete": 1, "failed": 1}
    assert tis[("announce_failed", "")][0] == "success"
    logs = proc.stdout + proc.stderr
    assert "capture failed: source=" in logs and "url=https://example.org/gone" in logs
    assert "reason=http-404" in logs
    captures = json.loads(subprocess.run([witnessbox, "captures", "--json"], env=env, capture_output=True,
                                         text=True, check=True).stdout)
    gone = [c for c in captures if c["url"] == "https://example.org/gone"]
    assert [c["status"] for c in gone] == ["failed"], "one failed capture, never a second for a retry"
    assert f"capture={gone[0]['id']}" in logs
    # the complete capture's task published its event; the failed one is announced after
    events = {task: extra for task, extra in out["events"]}
    assert events["capture"]["status"] == "complete", out["events"]
    assert events["announce_failed"] == {"status": "failed", "capture_ids": [gone[0]["id"]],
                                         "source_ids": [gone[0]["source_id"]]}
    shown = json.loads(subprocess.run([witnessbox, "show", gone[0]["id"], "--json"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    run = shown["manifest"]["capture"]["run"]
    assert run["dag_id"] == "witnessbox_web" and run["task_id"] == "capture" and run["try_number"] == 1
    assert run["run_id"] and run["map_index"] in (0, 1) and run["airflow_version"].startswith("3.")


@pytest.mark.slow
def test_trigger_with_a_source_or_all_captures_now(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    ids = [json.loads(subprocess.run([witnessbox, "watch", "add", url, "--json"], env=env, check=True,
                                     capture_output=True, text=True).stdout)["id"]
           for url in ("https://example.org/one", "https://example.org/two")]
    script = CUSTODY.replace("{dags!r}", repr(str(ROOT / "dags")))

    def run(conf: dict) -> None:
        proc = subprocess.run([sys.executable, "-c", script, "witnessbox_web", json.dumps(conf)], env=env,
                              capture_output=True, text=True, timeout=600, cwd=str(ROOT))
        assert "STATE success" in proc.stdout, (proc.stdout[-2000:], proc.stderr[-3000:])

    def counts() -> dict[str, int]:
        listing = json.loads(subprocess.run([witnessbox, "captures", "--json"], env=env, capture_output=True,
                                            text=True, check=True).stdout)
        return {i: sum(c["source_id"] == i for c in listing) for i in ids}

    run({})
    assert counts() == {ids[0]: 1, ids[1]: 1}
    run({})  # nothing due
    assert counts() == {ids[0]: 1, ids[1]: 1}
    run({"source": ids[1]})  # now, although not due
    assert counts() == {ids[0]: 1, ids[1]: 2}
    run({"all": True})
    assert counts() == {ids[0]: 2, ids[1]: 3}
