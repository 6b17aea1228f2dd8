"""Tools an investigation calls on internal systems: typed functions over real backends, an
allow-list, a per-ticket scope and budget, a cache, and a record of every call (`registry.py`)."""
