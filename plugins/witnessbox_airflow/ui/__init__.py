"""Airflow UI pages for witnessbox: Watchlist, Captures and Audit (the app is in ``app``)."""
