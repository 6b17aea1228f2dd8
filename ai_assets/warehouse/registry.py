"""Tables declared by components (e.g. an `LLMStep` in a defs.yaml), beside the packaged contracts.

A component declares its tables when Dagster builds its definitions, which happens in every process
that runs a step (the code server, each run's worker) before any resource is set up, so the
warehouse prepares their views and schema files with the packaged ones.
"""

from __future__ import annotations

from ai_assets.warehouse.contract import Table

_DECLARED: dict[str, Table] = {}


def declare(table: Table) -> Table:
    """Adds `table` (replacing an earlier declaration of the same name: definitions reloaded)."""
    _DECLARED[table.name] = table
    return table


def declared() -> list[Table]:
    return list(_DECLARED.values())


def find(name: str) -> Table | None:
    """The declared table `name` (for a packaged asset that reads a component's table), or None."""
    return _DECLARED.get(name)
