"""The watchlist: creators and videos a signed-in user follows, with their gains since the
user last looked (counted from the ingest database, read-only through STATS_DB_PATH)."""
