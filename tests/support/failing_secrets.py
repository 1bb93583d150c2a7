"""A secrets backend that refuses every lookup, as a vault that denies the worker does."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
from airflow.secrets import BaseSecretsBackend


class DenyingBackend(BaseSecretsBackend):
    def get_conn_value(self, conn_id: str) -> str | None:
        raise AirflowSecretsBackendAccessDenied(f"vault denied {conn_id}: token expired")

    def get_variable(self, key: str) -> str | None:
        raise AirflowSecretsBackendAccessDenied(f"vault denied {key}: token expired")
