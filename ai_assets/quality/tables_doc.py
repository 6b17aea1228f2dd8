"""Writes docs/tables.md from the table contracts: `python -m ai_assets.quality.tables_doc > docs/tables.md`.

A test compares the committed file with this output, so the reference never drifts from the code.
"""

from ai_assets.quality.tables import TABLES
from ai_assets.warehouse.contract import Table, column_type

HEADER = """# Warehouse tables

Generated from the table contracts (`ai_assets/defs/<feature>/tables.py`) by
`python -m ai_assets.quality.tables_doc > docs/tables.md`; do not edit by hand.

Every table is a DuckLake table in the lake (catalog `data/lake.sqlite`, data under
`data/lake/`), schema `main`. Daily tables are partitioned by `created_date` (the UTC day of the
ticket's `created_at`): materialising a day replaces exactly that day's rows, in one transaction
with the table's failures or quarantine sibling. A ticket is identified by (`created_date`,
`ticket_id`). A blocking table's contract check stops the rest of the run when it fails. The dbt marts are documented in
`dbt_project/models/`.
"""


def table_section(table: Table) -> str:
    facts = [
        f"- key: {', '.join(f'`{c}`' for c in table.key)}",
        f"- partitioned: {'daily, by `created_date`' if table.partitioned else 'no, rebuilt whole'}",
        f"- checks: {'blocking' if table.blocking else 'warn'}",
    ]
    tags = [tag for tag, on in (("pii", table.pii), ("llm", table.llm)) if on]
    if tags:
        facts.append(f"- tags: {', '.join(f'`{t}`' for t in tags)}")
    rows = ["| column | type | null | notes |", "|---|---|---|---|"]
    for name, column in table.columns.items():
        dtype = column_type(table.polars_schema[name], column.dtype is None)
        rows.append(f"| `{name}` | {dtype} | {'yes' if column.nullable else ''} | {table.column_note(name) or ''} |")
    return "\n".join([f"## `{table.name}`", "", table.description, "", *facts, "", *rows])


def render() -> str:
    return "\n\n".join([HEADER.rstrip(), *(table_section(t) for t in TABLES)]) + "\n"


if __name__ == "__main__":
    print(render(), end="")
