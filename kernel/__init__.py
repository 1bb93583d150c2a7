"""The kernel: what every witnessbox package may import, and which imports none of them.

The error tree, settings, ids and time helpers, the network policy, URL rules, schedules,
``Closing`` and compact JSON live here so that ``hashing``, ``collectors``,
``preservation`` and the Airflow plugin can share them without importing each other.
"""

__version__ = "0.1.0"
