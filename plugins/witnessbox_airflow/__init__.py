"""witnessbox inside Airflow: the hook that builds settings and runtimes, the DAG factory
and the UI plugin. Everything heavy happens inside tasks, never at DAG parse time."""
