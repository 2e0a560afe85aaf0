"""Run records, statistics, the SQLite store, comparisons and regression checks."""
