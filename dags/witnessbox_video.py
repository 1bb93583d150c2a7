"""Airflow DAG: collect every due video source of the witnessbox watchlist (see plugins/)."""

from witnessbox_airflow.dag_factory import collection_dag

dag = collection_dag("video")
