"""Full-text search over captured text, and what changed between captures of a source.

``text`` folds words the same way at index and query time; ``query`` parses the one query
syntax and compiles it for SQLite FTS5 or PostgreSQL; ``extract`` reads the text each
collector stores; ``index`` writes and searches; ``changes`` compares a capture with the
previous one of its source.
"""
