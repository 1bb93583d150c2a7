"""Airflow DAG: scheduled fixity audit of the evidence store (see plugins/)."""

from witnessbox_airflow.custody_dags import fixity_audit_dag

dag = fixity_audit_dag()
