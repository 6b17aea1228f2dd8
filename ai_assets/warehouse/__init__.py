"""DuckDB warehouse: atomic table writes and read-only queries."""
