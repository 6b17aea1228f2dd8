"""SQL lives in `.sql` files beside the module that runs it, read once, never patched."""

from functools import cache
from pathlib import Path


@cache
def sql_file(module_file: str, name: str) -> str:
    """The text of `sql/<name>.sql` in the folder of `module_file` (pass `__file__`)."""
    return (Path(module_file).parent / "sql" / f"{name}.sql").read_text(encoding="utf-8")
