"""The witnessbox hook: lazy, closed after use, and a failing secrets backend is an error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hooks(wb_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))  # if Airflow loads here first
    from witnessbox_airflow import hooks

    return hooks


def test_nothing_connects_until_used_and_close_releases_the_runtime(hooks, wb_env, monkeypatch):
    home = Path(os.environ["WITNESSBOX_HOME"])
    hook = hooks.WitnessboxHook({"via": "test"})
    assert not (home / "catalogue.sqlite").exists()  # __init__ opened nothing
    with hook:
        rt = hook.get_conn()
        assert hook.get_conn() is rt  # built once, then cached
        assert rt.run_context == {"via": "test"}
        closed = []
        monkeypatch.setattr(rt, "close", lambda: closed.append(True))
    assert closed == [True] and hook._runtime is None
    assert hook.get_conn() is not rt  # a later use opens a fresh one
    hook.close()


def test_undefined_connections_fall_back_to_the_environment(hooks, wb_env):
    # no Airflow metadata and no AIRFLOW_CONN_*: every lookup is "not defined"
    assert hooks.airflow_overrides() == {}
    assert hooks.WitnessboxHook().settings().store == hooks.load_settings(os.environ).store


def test_connections_override_settings(hooks, wb_env, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_WITNESSBOX_S3",
        '{"conn_type": "aws", "host": "minio", "port": 9000, "login": "AK", "password": "SK",'
        ' "schema": "evidence", "extra": {"secure": false, "prefix": "/team/"}}',
    )
    overrides = hooks.airflow_overrides()
    assert overrides["store"] == "s3://evidence/team"
    assert overrides["s3_endpoint"] == "minio:9000" and overrides["s3_secure"] is False
    assert (overrides["s3_access_key"], overrides["s3_secret_key"]) == ("AK", "SK")


def test_a_backend_error_is_not_a_missing_connection(hooks, wb_env, monkeypatch):
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    from kernel.errors import ConfigError

    def down(conn_id):
        raise AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={}))

    monkeypatch.setattr(hooks.BaseHook, "get_connection", staticmethod(down))
    with pytest.raises(ConfigError, match="cannot read Airflow connection witnessbox_s3"):
        hooks.WitnessboxHook().settings()


FAILING = textwrap.dedent(
    """
    from kernel.errors import ConfigError
    from witnessbox_airflow.hooks import WitnessboxHook
    try:
        WitnessboxHook().settings()
    except ConfigError as exc:
        print("ERROR", exc)
    else:
        print("NO ERROR")
    """
)


def test_a_denying_secrets_backend_raises_a_clear_error(tmp_path):
    """A real configured backend that refuses: the task must fail, not run on env defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__SECRETS__BACKEND": "tests.support.failing_secrets.DenyingBackend",
        "WITNESSBOX_HOME": str(tmp_path / "wb"),
        "PYTHONPATH": str(ROOT),
    })
    proc = subprocess.run([sys.executable, "-c", FAILING], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.stdout.startswith("ERROR cannot read Airflow connection witnessbox_s3"), (
        proc.stdout, proc.stderr[-2000:])
    assert "AirflowSecretsBackendAccessDenied" in proc.stdout
    assert "token expired" not in proc.stdout  # a backend's message is not echoed
    assert not (tmp_path / "wb").exists()  # nothing was opened on the fallback settings
