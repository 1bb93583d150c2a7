"""Replay a capture's WACZ in the browser with ReplayWeb.page, served by witnessbox itself.

``assets`` finds the pinned ReplayWeb.page files (``ui.js``, ``sw.js``) fetched by the
install step; ``wacz`` finds a capture's WACZ and serves byte ranges of it from the store;
``page`` writes the embedding page; ``server`` is ``witnessbox replay`` on 127.0.0.1. The
Airflow plugin serves the same three things behind its login.
"""
