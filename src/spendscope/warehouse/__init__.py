"""The warehouse: raw tables, the `spend` and `usage` views, loading and bookkeeping."""
