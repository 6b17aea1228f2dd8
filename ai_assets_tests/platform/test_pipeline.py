"""Real Dagster materialisations into a real DuckDB file, against the fake LLM server."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.task import packaged_prompt
from ai_assets.quality.tables import TABLES
from ai_assets_tests.conftest import DAY_1, DAY_2, Pipeline
from ai_assets_tests.fakes.llm_server import Fault
from ai_assets_tests.pipeline_tools import day_1_prompts, stale_causes, stale_status

CONTRACT_LINEAGE = (
    "model",
    "prompt_version",
    "input_hash",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cache_hit",
)


def _check_results(result) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_full_graph_for_one_partition(pipeline: Pipeline):
    pipeline.run("reference_data_job")
    daily = pipeline.run("daily_tickets_job", DAY_1)
    reviews = pipeline.run("reviews_job", DAY_1)  # no decision landed yet: changes nothing
    marts = pipeline.run("marts_job")

    # Each mart's materialisation says how many rows it has and what its columns are, as published.
    built = {m.asset_key.to_user_string(): m for m in marts.asset_materializations_for_node("dbt_marts")}
    for mart in ("ticket_kpis_daily", "kb_gaps", "reply_outcomes_daily"):
        event = built[mart]
        assert event.metadata["dagster/row_count"].value == pipeline.count(mart)
        schema = event.metadata["dagster/column_schema"].value
        assert [c.name for c in schema.columns] == [c for (c, *_) in pipeline.sql(f"describe {mart}")]
        assert all(c.type and c.description for c in schema.columns), mart

    expected = pipeline.expectations(DAY_1)
    raw = pipeline.count("raw_tickets")
    assert raw == expected["valid_unique"]
    assert pipeline.count("raw_tickets_quarantine") == sum(expected["bad"].values())
    assert pipeline.count("customers") >= 300 and pipeline.count("kb_articles") >= 20

    # Every raw ticket is triaged or failed, exactly once; the fake server answers validly.
    assert pipeline.count("ticket_triage") + pipeline.count("ticket_triage_failures") == raw
    assert pipeline.count("ticket_triage_failures") == 0
    assert pipeline.calls("ticket_triage") == raw
    nulls = " or ".join(f"{c} is null" for c in CONTRACT_LINEAGE)
    assert pipeline.count("ticket_triage", nulls) == 0
    assert pipeline.sql("select distinct model from ticket_triage") == [("fake-model",)]
    billing = pipeline.sql(
        "select count(*) from ticket_triage t join raw_tickets r using (ticket_id) "
        "where r.subject ilike '%refund%' and t.category = 'billing'"
    )[0][0]
    assert billing > 0

    # The huge body was cut before it reached the model, and the row says so.
    huge = pipeline.sql(
        "select t.input_truncated, r.body_chars from ticket_triage t join raw_tickets r using (ticket_id, created_date)"
        " where r.body_chars >= 50000"
    )
    assert huge == [(True, 50000)]
    longest_prompt = max(len(json.dumps(r["messages"])) for r in pipeline.server.requests)
    assert longest_prompt < 10_000

    # The marts account for the whole day, by category.
    assert pipeline.sql(f"select sum(tickets) from ticket_kpis_daily where created_date = '{DAY_1}'") == [(raw,)]
    # The labelled tickets (the sample golden set) and the triage evaluated on them.
    pipeline.run("eval_job")
    assert pipeline.count("eval_runs") == 1
    # Every table has exactly the columns of its contract, in its order.
    for table in TABLES:
        query = "select column_name from information_schema.columns where table_name = ? order by ordinal_position"
        with pipeline.settings.warehouse.lake.connect(read_only=True) as conn:
            columns = [name for (name,) in conn.execute(query, [table.name]).fetchall()]
        assert columns == table.column_names, table.name

    # A check on a daily table reads the days its run wrote, not the table's whole history.
    scoped = [
        (
            e.asset_check_evaluation_data.metadata["days"].value,
            e.asset_check_evaluation_data.metadata["partitions"].value,
        )
        for e in daily.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "ticket_triage_matches_contract"
    ]
    assert scoped == [(1, DAY_1)]  # and says which
    conserved = [
        e.asset_check_evaluation_data.metadata["partitions"].value
        for e in daily.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "every_ticket_triaged_once"
    ]
    assert conserved == [DAY_1]
    checks = {**_check_results(daily), **_check_results(reviews), **_check_results(marts)}
    assert checks["every_ticket_triaged_once"] and checks["raw_tickets_matches_contract"]
    # A day's checks are recorded for that day (partitioned checks), the UI's partition column.
    evaluations = [
        e.asset_check_evaluation_data for e in daily.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert {e.partition for e in evaluations} == {DAY_1}
    assert checks["ticket_triage_matches_contract"]
    assert all(checks.values()), checks


def test_rerun_is_idempotent_and_makes_no_llm_calls(pipeline: Pipeline):
    pipeline.run("daily_tickets_job", DAY_1)
    calls = pipeline.server.call_count
    counts = {t: pipeline.count(t) for t in ("raw_tickets", "raw_tickets_quarantine", "ticket_triage")}
    first = pipeline.sql("select ticket_id, category, input_hash, cost_usd from ticket_triage order by 1")

    rerun = pipeline.run("daily_tickets_job", DAY_1)

    assert pipeline.server.call_count == calls
    assert {t: pipeline.count(t) for t in counts} == counts
    assert pipeline.sql("select ticket_id, category, input_hash, cost_usd from ticket_triage order by 1") == first
    assert pipeline.count("ticket_triage", "not cache_hit") == 0
    triage_metadata = rerun.asset_materializations_for_node("ticket_triage")[0].metadata
    assert triage_metadata["llm_calls"].value == 0
    assert triage_metadata["cache_hits"].value == counts["ticket_triage"]


def test_partition_rerun_touches_only_its_partition(pipeline: Pipeline):
    pipeline.run("daily_tickets_job", DAY_1)
    day_1 = pipeline.sql(f"select * from ticket_triage where created_date = '{DAY_1}' order by ticket_id")
    pipeline.run("daily_tickets_job", DAY_2)
    pipeline.run("daily_tickets_job", DAY_2)

    assert pipeline.sql(f"select * from ticket_triage where created_date = '{DAY_1}' order by ticket_id") == day_1
    for day in (DAY_1, DAY_2):
        raw = pipeline.count("raw_tickets", f"created_date = '{day}'")
        assert raw == pipeline.expectations(day)["valid_unique"]
        outcomes = pipeline.count("ticket_triage", f"created_date = '{day}'") + pipeline.count(
            "ticket_triage_failures", f"created_date = '{day}'"
        )
        assert outcomes == raw


def test_a_range_of_days_in_one_run_matches_day_by_day_runs(pipeline: Pipeline):
    grouped = pipeline.run("daily_tickets_job", days=(DAY_1, DAY_2))
    calls, triage_calls = pipeline.server.call_count, pipeline.calls("ticket_triage")
    by_day = "select created_date::varchar, count(*) from {} group by 1 order by 1"
    grouped_rows = {
        t: pipeline.sql(by_day.format(t)) for t in ("raw_tickets", "raw_tickets_quarantine", "ticket_triage")
    }

    assert [(d, n) for d, n in grouped_rows["raw_tickets"]] == [
        (d, pipeline.expectations(d)["valid_unique"]) for d in (DAY_1, DAY_2)
    ]
    assert triage_calls == sum(n for _, n in grouped_rows["raw_tickets"])  # one triage call per ticket, days pooled
    materialized = {m.partition for m in grouped.asset_materializations_for_node("ticket_triage")}
    assert materialized == {DAY_1, DAY_2}
    assert _check_results(grouped)["every_ticket_triaged_once"]
    scopes = {
        e.asset_check_evaluation_data.metadata["partitions"].value
        for e in grouped.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name.startswith("ticket_")
    }
    assert scopes == {f"{DAY_1}..{DAY_2}"}  # each check says which days it looked at

    # The same days one by one: same rows, no LLM call (a group and a day share the cache).
    pipeline.run("daily_tickets_job", DAY_1)
    pipeline.run("daily_tickets_job", DAY_2)
    assert {t: pipeline.sql(by_day.format(t)) for t in grouped_rows} == grouped_rows
    assert pipeline.server.call_count == calls


def test_prompt_change_marks_triage_stale_and_reruns_only_its_calls(pipeline: Pipeline, monkeypatch, tmp_path):
    for job in ("reference_data_job", "daily_tickets_job", "marts_job"):
        pipeline.run(job, DAY_1 if job == "daily_tickets_job" else None)
    assert stale_status(pipeline, pipeline.defs, "ticket_triage", DAY_1) == "FRESH"
    tickets, calls = pipeline.count("raw_tickets"), pipeline.calls("ticket_triage")

    # A data engineer edits the triage prompt in their own prompts directory.
    packaged = packaged_prompt("ticket_triage").read_text()
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "ticket_triage.txt").write_text(
        packaged.replace("[user]", "Answer in the customer's words.\n\n[user]")
    )
    monkeypatch.setenv("AI_ASSETS_PROMPTS_DIR", str(tmp_path / "prompts"))
    edited = build_definitions(load_settings())

    assert stale_status(pipeline, edited, "ticket_triage", DAY_1) == "STALE"
    assert stale_status(pipeline, edited, "raw_tickets", DAY_1) == "FRESH"

    edited.resolve_job_def("daily_tickets_job").execute_in_process(instance=pipeline.instance, partition_key=DAY_1)
    assert pipeline.calls("ticket_triage") - calls == tickets  # once per ticket
    new_version = edited.resolve_asset_graph().get(dg.AssetKey("ticket_triage")).code_version.split("+")[0]
    assert pipeline.sql("select distinct prompt_version from ticket_triage") == [(new_version,)]


def _everything(pipeline: Pipeline, *, only: list[str] | None = None) -> None:
    """Materialises every asset (or those named) for DAY_1 in one run, as the UI's "Materialize all" does."""
    selection = [dg.AssetKey(name) for name in only] if only else None
    job = pipeline.defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, asset_selection=selection, raise_on_error=False
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]


def _row_counts(pipeline: Pipeline) -> dict[str, int]:
    tables = [name for (name,) in pipeline.sql("select table_name from information_schema.tables")]
    return {name: pipeline.count(f'"{name}"') for name in tables}


def test_materialising_everything_twice_asks_nothing_the_second_time(pipeline: Pipeline):
    _everything(pipeline)
    calls, counts = pipeline.server.call_count, _row_counts(pipeline)
    assert pipeline.calls("ticket_triage") > 0 and counts["eval_runs"] == 1 and counts["kb_gaps"] > 0

    # The evaluation that decides the triage's plan runs first (eval_runs is upstream of ticket_triage),
    # so the second run sees the same plan, asks nothing and changes no table.
    _everything(pipeline)
    assert pipeline.server.call_count == calls
    assert _row_counts(pipeline) == counts
    assert stale_status(pipeline, pipeline.defs, "ticket_triage", DAY_1) == "FRESH"

    # An evaluation that changes nothing leaves the triage fresh; one that changes the plan (new labels:
    # a new evaluation) marks it stale, and the UI says eval_runs is why.
    _everything(pipeline, only=["eval_predictions", "eval_runs", "eval_plans"])
    assert stale_status(pipeline, pipeline.defs, "ticket_triage", DAY_1) == "FRESH"
    labels = pipeline.settings.data_dir / "landing" / "labels" / "golden.jsonl"
    labels.write_text("".join(labels.read_text().splitlines(keepends=True)[:-10]))
    _everything(
        pipeline, only=["ticket_labels", "ticket_labels_quarantine", "eval_predictions", "eval_runs", "eval_plans"]
    )
    assert stale_status(pipeline, pipeline.defs, "ticket_triage", DAY_1) == "STALE"
    causes = {
        (c.dependency.asset_key.to_user_string(), c.reason) for c in stale_causes(pipeline, "ticket_triage", DAY_1)
    }
    assert ("eval_runs", "has a new dependency data version") in causes


def _repository_files() -> set[str]:
    repo = Path(__file__).resolve().parents[2]
    return {
        str(path.relative_to(repo))
        for folder in ("dbt_project", "ai_assets")
        for path in (repo / folder).rglob("*")
        if "__pycache__" not in path.parts
    }


def test_loading_and_running_writes_nothing_inside_the_repository(pipeline: Pipeline, monkeypatch, tmp_path):
    before = _repository_files()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no parsed dbt manifest yet
    pipeline.defs = build_definitions(pipeline.settings)
    for job in ("reference_data_job", "daily_tickets_job", "marts_job"):
        pipeline.run(job, DAY_1 if job == "daily_tickets_job" else None)
    assert pipeline.count("ticket_kpis_daily") > 0
    assert _repository_files() - before == set()  # dbt's manifest, logs and targets went elsewhere


def test_invalid_llm_output_is_dead_lettered(pipeline: Pipeline):
    subjects = day_1_prompts(pipeline)
    ticket_ids = list(subjects)
    victims = ticket_ids[:3]
    bad_answers = {
        victims[0]: "Sure! Here is the triage: billing",
        victims[1]: json.dumps({"category": "spam", "urgency": "low"}),
        victims[2]: '{"category": "billing", "urgency": "low", "sentiment": "neutral", "language": "en", '
        '"confidence": 700}',  # 85 would read as 85%
    }
    # Each victim answers badly twice: the first answer, then the reask that shows it its error.
    for victim, answer in bad_answers.items():
        pipeline.server.inject(*[Fault(content=answer, match=subjects[victim])] * 2)
    result = pipeline.run("daily_tickets_job", DAY_1)

    failures = dict(pipeline.sql("select ticket_id, error_type || ': ' || reason from ticket_triage_failures"))
    assert set(victims) <= set(failures)
    assert all(failures[v].startswith("invalid_output") and "after one reask" in failures[v] for v in victims)
    assert "confidence" in failures[victims[2]]
    assert pipeline.sql(f"select raw_output from ticket_triage_failures where ticket_id = '{victims[0]}'") == [
        ("Sure! Here is the triage: billing",)
    ]
    assert pipeline.count("ticket_triage") + len(failures) == len(ticket_ids)
    assert _check_results(result)["every_ticket_triaged_once"]

    # Failed answers are never cached: once the model behaves, the rerun retries exactly those rows.
    calls = pipeline.calls("ticket_triage")
    pipeline.run("daily_tickets_job", DAY_1)
    assert pipeline.calls("ticket_triage") - calls == len(failures)
    assert pipeline.count("ticket_triage_failures") == 0


def test_provider_errors_retry_then_dead_letter(pipeline: Pipeline):
    subjects = day_1_prompts(pipeline)
    ticket_ids = list(subjects)
    flaky, broken = ticket_ids[0], ticket_ids[1]
    pipeline.server.inject(
        Fault(status=429, retry_after=0, match=subjects[flaky]),
        Fault(status=503, match=subjects[flaky]),
        *[Fault(status=500, match=subjects[broken]) for _ in range(3)],  # 1 try + 2 retries
    )
    pipeline.run("daily_tickets_job", DAY_1)

    assert pipeline.count("ticket_triage", f"ticket_id = '{flaky}'") == 1
    failure = pipeline.sql(f"select error_type, reason from ticket_triage_failures where ticket_id = '{broken}'")
    assert failure and failure[0][0] == "provider_error" and "HTTP 500" in failure[0][1]
    assert pipeline.count("ticket_triage") + pipeline.count("ticket_triage_failures") == len(ticket_ids)


def test_api_key_never_reaches_tables_or_run_logs(pipeline: Pipeline):
    result = pipeline.run("daily_tickets_job", DAY_1)
    secret = "sk-test-secret-never-logged"
    for (table,) in pipeline.sql("select table_name from duckdb_tables()"):
        dump = pipeline.sql(f"select * from {table}")
        assert secret not in repr(dump), table
    events = pipeline.instance.all_logs(result.run_id)
    assert secret not in repr([e.dagster_event for e in events]) + repr([e.user_message for e in events])


def test_definitions_load_with_groups_checks_and_dbt(pipeline: Pipeline):
    defs = build_definitions(pipeline.settings)
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    features = {"landing", "reference", "triage", "retrieval", "investigation", "replies", "outbox", "kb_updates"}
    assert set(groups.values()) == features | {"evals", "marts", "reviews", "summaries"}  # declared in ai_assets/defs/
    assert groups["raw_tickets"] == "landing" and groups["ticket_triage"] == "triage"
    assert groups["ticket_labels"] == "reference" and groups["eval_runs"] == "evals"
    assert groups["ticket_kpis_daily"] == "marts" and groups["review_decisions"] == "outbox"
    check_names = {key.name for key in graph.asset_check_keys}
    assert {
        "every_ticket_triaged_once",
        "raw_tickets_matches_contract",
        "ticket_triage_matches_contract",
    } <= check_names
    assert any(name.startswith("not_null_") or name.startswith("unique_") for name in check_names)  # dbt tests
    # Lineage: the mart reaches back to raw_tickets through the triage.
    assert dg.AssetKey("stg_tickets") in graph.get(dg.AssetKey("ticket_kpis_daily")).parent_keys
    assert {dg.AssetKey("raw_tickets"), dg.AssetKey("ticket_triage")} <= graph.get(
        dg.AssetKey("stg_tickets")
    ).parent_keys


def test_cli_summary_and_read_only_queries(pipeline: Pipeline, capsys):
    from ai_assets.cli import main

    pipeline.run("daily_tickets_job", DAY_1)
    assert main(["summary"]) == 0
    summary = capsys.readouterr().out
    assert "raw_tickets" in summary and "ticket_triage_failures" in summary
    assert main(["query", "select count(*) as n from raw_tickets"]) == 0
    assert str(pipeline.count("raw_tickets")) in capsys.readouterr().out
    # Queries exposed to users can't change the warehouse.
    assert main(["query", "delete from raw_tickets"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert pipeline.count("raw_tickets") > 0
