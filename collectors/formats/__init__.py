"""Archive formats the collectors write: WARC 1.1 records and WACZ packages."""
