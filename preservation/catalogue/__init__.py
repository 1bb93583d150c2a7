"""The catalogue: SQL models and migrations, manifest indexing, the watchlist, similarity."""
