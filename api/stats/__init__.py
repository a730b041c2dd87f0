"""Pro's CSV export of a creator's stats from the ingest DuckDB."""
