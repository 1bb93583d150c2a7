"""Airflow DAG: collect every due telegram source of the witnessbox watchlist (see plugins/)."""

from witnessbox_airflow.dag_factory import collection_dag

dag = collection_dag("telegram")
