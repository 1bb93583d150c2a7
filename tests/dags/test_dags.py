"""The DAGs load without import errors, and one really runs a capture with Airflow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
        assert result["dags"][f"witnessbox_{kind}"] == ["capture", "due_sources", "record"]


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
