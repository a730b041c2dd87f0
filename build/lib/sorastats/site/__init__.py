"""The static site: build a model of pages from DuckDB, render them in a process pool,
write them incrementally into a staging tree and publish it atomically."""
