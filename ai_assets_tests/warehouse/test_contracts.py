"""The table contracts are the one place a table is described: everything derived agrees with them."""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest
import yaml

from ai_assets.config import SettingsError, load_settings
from ai_assets.defs.retrieval.tables import TICKET_CONTEXT
from ai_assets.defs.triage.tables import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.quality.tables import TABLES, TABLES_BY_NAME
from ai_assets.quality.tables_doc import render
from ai_assets.warehouse import tables
from ai_assets.warehouse.contract import Table
from ai_assets_tests.conftest import local_warehouse, read_table

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ai_assets"


def test_docs_tables_md_is_generated_from_the_contracts():
    assert (REPO / "docs" / "tables.md").read_text() == render(), (
        "run: python -m ai_assets.quality.tables_doc > docs/tables.md"
    )


def test_dbt_sources_agree_with_the_contracts():
    sources = yaml.safe_load((REPO / "dbt_project" / "models" / "sources.yml").read_text())["sources"]
    for source in sources:
        for table in source["tables"]:
            contract = TABLES_BY_NAME.get(table["name"])
            assert contract is not None, f"dbt source {table['name']} has no contract in ai_assets/quality/tables.py"
            assert table["meta"]["dagster"]["asset_key"] == [contract.name]
            for column in table.get("columns", []):
                assert column["name"] in contract.columns, (table["name"], column["name"])


def test_every_derived_shape_follows_its_contract():
    for table in TABLES:
        assert table.empty().columns == table.column_names
        spec = table.spec()
        schema = spec.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == table.column_names
        assert spec.description == table.description and table.description.startswith("One row per")
        assert ("partition_expr" in spec.metadata) == table.partitioned
        assert table.key, f"{table.name} declares no key"


def test_every_column_has_a_description_in_the_ui():
    blank = [
        f"{table.name}.{column.name}"
        for table in TABLES
        for column in table.spec().metadata["dagster/column_schema"].columns
        if not (column.description or "").strip()
    ]
    assert blank == []


def test_a_column_without_a_note_is_refused():
    columns = {"a": pa.Column(pl.Utf8), "b": pa.Column(pl.Utf8), "c": pa.Column(pl.Utf8)}
    with pytest.raises(ValueError, match=r"table t: columns \['b', 'c'\] have no note"):
        Table("t", "One row per t.", columns, key=("a",), notes={"a": "the a", "c": "  "})


def _comments(warehouse) -> tuple[dict, dict]:
    with warehouse.lake.connect(read_only=True) as conn:
        tables = dict(
            conn.execute("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()
        )
        columns = conn.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE database_name = 'lake'"
        )
        return tables, {(table, column): comment for table, column, comment in columns.fetchall()}


def test_the_lake_tables_carry_the_descriptions_as_comments(tmp_path):
    warehouse = local_warehouse(tmp_path)
    tables, columns = _comments(warehouse)
    assert tables == {table.name: table.description for table in TABLES}
    assert columns == {(t.name, c): t.column_note(c) for t in TABLES for c in t.columns}

    # A reworded note alone is published at the next start.
    reworded = dataclasses.replace(TICKET_TRIAGE, notes={**TICKET_TRIAGE.notes, "product": "what they bought"})
    warehouse = local_warehouse(tmp_path, [reworded if t is TICKET_TRIAGE else t for t in TABLES])
    assert _comments(warehouse)[1]["ticket_triage", "product"] == "what they bought"

    # A table replaced whole on each write keeps them (the new table gets them in the same commit).
    quarantine = TABLES_BY_NAME["customers_quarantine"]
    assert quarantine.recreated_on_write
    row = {"source_file": "customers.csv", "source_line": 3, "customer_id": "C-1", "reason": "no email"}
    warehouse.write({quarantine: pl.DataFrame([row])})
    tables, columns = _comments(warehouse)
    assert tables["customers_quarantine"] == quarantine.description
    assert columns["customers_quarantine", "reason"] == quarantine.column_note("reason")


def _triage_row(ticket_id: str, day: date, category: str = "billing") -> dict:
    return {
        "ticket_id": ticket_id,
        "created_date": day,
        "category": category,
        "urgency": "low",
        "sentiment": "neutral",
        "language": "en",
        "order_id": None,
        "product": None,
        "confidence": 0.9,
        "model": "m",
        "prompt_version": "p",
        "input_hash": "h",
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cost_usd": 0.0,
        "cache_hit": False,
        "latency_ms": 1.0,
        "input_truncated": False,
        "proxy_fields": [],
    }


def _triage(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=TICKET_TRIAGE.polars_schema)


def _failures(day: date) -> pl.DataFrame:
    row = {
        "ticket_id": "T-1",
        "created_date": day,
        "error_type": "invalid_output",
        "reason": "not JSON",
        "raw_output": "oops",
        "model": "m",
        "prompt_version": "v1",
        "input_hash": "h",
        "input_truncated": False,
    }
    return pl.DataFrame([row], schema=TICKET_TRIAGE_FAILURES.polars_schema)


def test_write_replaces_the_days_of_every_table_in_one_commit(tmp_path):
    day_1, day_2 = date(2026, 11, 1), date(2026, 11, 2)
    warehouse = local_warehouse(tmp_path)
    # The same ticket id on two days is two tickets: the key is (created_date, ticket_id).
    warehouse.write({TICKET_TRIAGE: _triage(_triage_row("T-1", day_1))}, [day_1])
    warehouse.write({TICKET_TRIAGE: _triage(_triage_row("T-1", day_2))}, [day_2])
    warehouse.write({TICKET_TRIAGE: _triage(_triage_row("T-1", day_1, "shipping"))}, [day_1])
    assert read_table(warehouse, TICKET_TRIAGE).sort("created_date")["category"].to_list() == ["shipping", "billing"]
    failures = read_table(warehouse, TICKET_TRIAGE_FAILURES)  # never written: empty, with its columns
    assert failures.is_empty() and failures.columns == TICKET_TRIAGE_FAILURES.column_names

    # A frame that breaks its contract is refused before anything is written, naming the rule.
    bad = _triage(_triage_row("T-2", day_1, "weather"))
    with pytest.raises(ValueError, match="ticket_triage: category: isin"):
        warehouse.write({TICKET_TRIAGE: bad}, [day_1])
    doubled = _triage(_triage_row("T-3", day_1), _triage_row("T-3", day_1))
    with pytest.raises(ValueError, match=r"key \(created_date, ticket_id\) is not unique"):
        warehouse.write({TICKET_TRIAGE: doubled}, [day_1])
    with pytest.raises(ValueError, match="outside the days written"):
        warehouse.write({TICKET_TRIAGE: _triage(_triage_row("T-4", day_2))}, [day_1])
    assert read_table(warehouse, TICKET_TRIAGE, [day_1])["category"].to_list() == ["shipping"]


def _snapshots(warehouse) -> int:
    return warehouse.query("select count(*) from ducklake_snapshots('lake')").item()


def test_a_write_of_two_tables_is_one_snapshot_or_none(tmp_path, monkeypatch):
    day = date(2026, 11, 1)
    warehouse = local_warehouse(tmp_path)
    warehouse.write({TICKET_TRIAGE: _triage(_triage_row("T-1", day))}, [day])
    before = _snapshots(warehouse)
    inserted = []

    def insert_then_fail(conn, table, frame):
        if inserted:
            raise OSError("disk full")  # the second table's rows never reach the lake
        inserted.append(table)
        return original(conn, table, frame)

    original = tables._insert
    monkeypatch.setattr(tables, "_insert", insert_then_fail)
    with pytest.raises(OSError, match="disk full"):
        warehouse.write({TICKET_TRIAGE: _triage(), TICKET_TRIAGE_FAILURES: _failures(day)}, [day])
    monkeypatch.undo()
    assert inserted and _snapshots(warehouse) == before
    assert read_table(warehouse, TICKET_TRIAGE, [day]).height == 1  # as it was: the day was not emptied
    assert read_table(warehouse, TICKET_TRIAGE_FAILURES, [day]).is_empty()

    warehouse.write({TICKET_TRIAGE: _triage(), TICKET_TRIAGE_FAILURES: _failures(day)}, [day])
    assert _snapshots(warehouse) == before + 1  # both tables in one snapshot
    assert read_table(warehouse, TICKET_TRIAGE, [day]).is_empty()
    assert read_table(warehouse, TICKET_TRIAGE_FAILURES, [day])["ticket_id"].to_list() == ["T-1"]


def test_importing_the_definitions_writes_nothing_and_changes_no_environment(tmp_path):
    script = (
        "import os, sys; before = dict(os.environ); import ai_assets.definitions; "
        # polars sets its allocator's options on import: not ours to judge.
        "changed = {k for k in {*before, *os.environ} if before.get(k) != os.environ.get(k)} - {'_RJEM_MALLOC_CONF'}; "
        "sys.exit(3 if changed else 0)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_ASSETS_", "OPENAI_", "DAGSTER_HOME"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []


def _module_level_calls(tree: ast.Module, name: str) -> list[int]:
    """Lines where `name(...)` is called outside any function body."""
    lines: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
            lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return lines


def test_no_module_reads_the_environment_at_import():
    offenders = {
        str(path.relative_to(REPO)): calls
        for path in PACKAGE.rglob("*.py")
        if (calls := _module_level_calls(ast.parse(path.read_text()), "load_settings"))
    }
    assert offenders == {}
    readers = [p.relative_to(REPO) for p in PACKAGE.rglob("*.py") if "os.environ" in p.read_text()]
    # settings.py reads the environment; the LLM client reads the key, the lake the store's
    # credentials and the Celery worker its broker's URL (never into a setting), and the scrubber the
    # secrets it removes from error texts; the CLI, the instance helper and the local cluster set the
    # environment of the processes they start; dbt's parsed project goes to the user's cache
    # (XDG_CACHE_HOME, read when the definitions are built) and its build gets the catalog's password.
    assert {str(p) for p in readers} <= {
        "ai_assets/load/dbt.py",
        "ai_assets/settings.py",
        "ai_assets/llm/client.py",
        "ai_assets/secrets.py",
        "ai_assets/automation/instance.py",
        "ai_assets/cli.py",
        "ai_assets/warehouse/lake.py",
        "ai_assets/cluster/celery.py",
        "ai_assets/cluster/local.py",
    }


def test_bad_settings_are_named_one_by_one():
    with pytest.raises(SettingsError) as error:
        load_settings(
            {"AI_ASSETS_EXECUTOR": "threads", "AI_ASSETS_LLM_CONCURRENCY": "many", "AI_ASSETS_REDACT_PII": "x"}
        )
    message = str(error.value)
    assert "AI_ASSETS_EXECUTOR='threads' must be one of in_process, multiprocess" in message
    assert "AI_ASSETS_LLM_CONCURRENCY='many' is not a number" in message
    assert "AI_ASSETS_REDACT_PII='x' must be one of auto, on, off" in message


def test_columns_an_older_contract_had_are_dropped_from_the_tables_it_wrote(tmp_path):
    # As the version before issue 26 wrote them: a summary in the triage and in each earlier ticket.
    history = pl.Struct({**TICKET_CONTEXT.polars_schema["history"].inner.to_schema(), "summary": pl.Utf8})
    older = [
        dataclasses.replace(
            TICKET_TRIAGE,
            columns={**TICKET_TRIAGE.columns, "summary": pa.Column(pl.Utf8)},
            notes={**TICKET_TRIAGE.notes, "summary": "one sentence"},
            retired=(),
        ),
        dataclasses.replace(
            TICKET_CONTEXT, columns={**TICKET_CONTEXT.columns, "history": pa.Column(pl.List(history))}, retired=()
        ),
    ]
    local_warehouse(tmp_path, older)
    warehouse = local_warehouse(tmp_path, [TICKET_TRIAGE, TICKET_CONTEXT])
    with warehouse.lake.connect(read_only=True) as conn:
        described = {(t, c): kind for t, c, kind in conn.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = 'lake'"
        ).fetchall()}  # fmt: skip
    assert [c for t, c in described if t == "ticket_triage"] == TICKET_TRIAGE.column_names
    assert (
        "summary" not in described["ticket_context", "history"] and "subject" in described["ticket_context", "history"]
    )
