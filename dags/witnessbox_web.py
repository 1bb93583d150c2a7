"""Airflow DAG: collect every due web source of the witnessbox watchlist (see plugins/)."""

from witnessbox_airflow.dag_factory import collection_dag

dag = collection_dag("web")
