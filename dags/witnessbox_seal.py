"""Airflow DAG: RFC 3161 timestamps for every unsealed capture (see plugins/)."""

from witnessbox_airflow.custody_dags import seal_dag

dag = seal_dag()
