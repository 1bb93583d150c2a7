"""Inside Airflow the replicas' key-encryption key comes from the connection witnessbox_kek."""

from __future__ import annotations

import base64
import os


def test_the_kek_comes_from_its_connection_and_stays_secret(wb_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    from witnessbox_airflow import hooks

    kek = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv(
        "AIRFLOW_CONN_WITNESSBOX_KEK", f'{{"conn_type": "generic", "password": "{kek}"}}'
    )
    monkeypatch.setenv("AIRFLOW_VAR_WITNESSBOX_KEK", "from-a-variable")  # never for a secret
    settings = hooks.WitnessboxHook().settings()
    assert settings.kek == kek
    assert kek not in repr(settings) and settings.public_dict()["kek"] == "(set)"
