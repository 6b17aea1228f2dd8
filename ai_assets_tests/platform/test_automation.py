"""Sensors, schedules, staleness from prompts and freshness, evaluated the way the daemon does."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.defs.triage.tasks import triage_task
from ai_assets.warehouse.partitions import Daily
from ai_assets_tests.conftest import DAY_1, DAY_2, configure_env


def _defs() -> dg.Definitions:
    return build_definitions(load_settings())


def _write(path, lines: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "ticket_id": "T-1",
        "customer_id": "C-1",
        "created_at": f"{path.parent.name}T10:00:00Z",
        "channel": "web",
        "subject": "s",
        "body": "b",
    }
    path.write_text("\n".join(json.dumps({**record, "ticket_id": f"T-{i}"}) for i in range(lines)))


def _evaluate(cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor)
    requests = list(_defs().resolve_sensor_def("landing_files_sensor")(context) or [])
    return requests, context.cursor


def test_landing_sensor_runs_each_new_or_changed_day_once(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    tickets = settings.landing_dir / "tickets"
    _write(tickets / DAY_1 / "a.jsonl", 3)

    requests, cursor = _evaluate(None)
    assert [(r.partition_key, r.run_key.split(":")[0]) for r in requests] == [(DAY_1, DAY_1)]

    assert _evaluate(cursor)[0] == []  # same files: nothing to do

    _write(tickets / DAY_2 / "a.jsonl", 2)
    requests, cursor_2 = _evaluate(cursor)
    assert [r.partition_key for r in requests] == [DAY_2]  # only the new day

    first_key = _evaluate(None)[0][0].run_key
    _write(tickets / DAY_1 / "a.jsonl", 5)
    os.utime(tickets / DAY_1 / "a.jsonl", ns=(1, 1))  # a changed file, whatever the clock says
    requests, _ = _evaluate(cursor_2)
    assert [r.partition_key for r in requests] == [DAY_1] and requests[0].run_key != first_key


def test_labels_sensor_reevaluates_when_labels_or_decisions_change(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    sensor = _defs().resolve_sensor_def("labels_sensor")

    def evaluate(cursor):
        context = dg.build_sensor_context(cursor=cursor)
        return list(sensor(context) or []), context.cursor

    assert evaluate(None) == ([], None)  # no labels, no decisions: nothing to evaluate
    labels = settings.landing_dir / "labels" / "hand.jsonl"
    labels.parent.mkdir(parents=True)
    labels.write_text('{"ticket_id": "L-1"}\n')
    requests, cursor = evaluate(None)
    assert sensor.job_name == "eval_job"
    assert len(requests) == 1 and requests[0].run_key == f"labels:{cursor}"
    assert evaluate(cursor) == ([], cursor)  # unchanged

    decisions = settings.landing_dir / "reviews" / "decisions.jsonl"
    decisions.parent.mkdir(parents=True)
    decisions.write_text('{"ticket_id": "T-1", "decision": "approve", "reviewer": "ana", "category": "billing"}\n')
    requests, cursor_2 = evaluate(cursor)
    assert len(requests) == 1 and cursor_2 != cursor  # a correction may be a new label
    labels.write_text('{"ticket_id": "L-2"}\n')
    os.utime(labels, ns=(1, 1))
    assert len(evaluate(cursor_2)[0]) == 1


def test_landing_sensor_skips_days_outside_the_partitions(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    _write(settings.landing_dir / "tickets" / "2019-01-01" / "a.jsonl", 1)
    assert _evaluate(None)[0] == []


def test_daily_schedule_targets_yesterday():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 10, 1, 0, tzinfo=UTC))
    result = _defs().resolve_schedule_def("daily_tickets_job_schedule").evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-09"]


def test_failed_runs_are_recorded_where_users_see_them(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)

    @dg.op
    def explode():
        raise RuntimeError("provider down")

    @dg.job
    def doomed():
        explode()

    with dg.DagsterInstance.ephemeral() as instance:
        result = doomed.execute_in_process(instance=instance, raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failures_sensor",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        _defs().resolve_sensor_def("run_failures_sensor")(context)
    records = [
        json.loads(line) for line in (settings.data_dir / "logs" / "run_failures.jsonl").read_text().splitlines()
    ]
    assert records[0]["run_id"] == result.run_id and records[0]["job"] == "doomed"


def test_code_version_follows_prompt_schema_and_model():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    version = graph.get(dg.AssetKey("ticket_triage")).code_version
    assert version.startswith(triage_task().prompt_version + "+")
    sensors = {s.name for s in defs.sensors}
    assert {"landing_files_sensor", "run_failures_sensor"} <= sensors
    assert graph.get(dg.AssetKey("ticket_kpis_daily")).automation_condition is not None


def test_the_shipped_instance_config_loads(tmp_path, monkeypatch):
    from ai_assets.automation.instance import ensure_dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = ensure_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # so monkeypatch restores it afterwards
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert str(home) in str(instance.root_directory)
        assert instance.freshness_enabled
        concurrency = instance.get_concurrency_config()  # what the run queue daemon reads
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert concurrency.pool_config.default_pool_limit == 2


def test_llm_steps_and_dbt_builds_have_pools():
    executable = [assets for assets in _defs().resolve_asset_graph().assets_defs if assets.is_executable]
    pools = {node.name: node.pool for node in (assets.node_def for assets in executable)}
    assert pools["ticket_triage"] == "llm_provider" and pools["dbt_marts"] == "dbt_build"


def test_each_freshness_policy_sits_on_the_asset_it_is_about_once(tmp_path, monkeypatch):
    configure_env(monkeypatch, tmp_path / "data", None)
    graph = _defs().resolve_asset_graph()
    policies = {node.key.to_user_string(): node.freshness_policy for node in graph.asset_nodes if node.freshness_policy}
    assert sorted(policies) == ["raw_tickets", "ticket_kpis_daily"]
    assert policies["raw_tickets"].deadline_cron == "0 3 * * *"
    assert policies["ticket_kpis_daily"].fail_window.to_timedelta() == timedelta(hours=26)


def test_the_marts_rebuild_after_a_day_lands_without_switching_anything_on(pipeline):
    sensor = pipeline.defs.resolve_sensor_def("marts_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    first = dg.evaluate_automation_conditions(defs=pipeline.defs, instance=pipeline.instance)
    assert first.total_requested == 0  # nothing ran yet: nothing to rebuild
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)
    after_day = dg.evaluate_automation_conditions(defs=pipeline.defs, instance=pipeline.instance, cursor=first.cursor)
    requested = {r.key.to_user_string() for r in after_day.results if r.true_subset.size}
    assert {"ticket_kpis_daily", "kb_gaps", "reply_outcomes_daily"} <= requested
    pipeline.run("marts_job")
    settled = dg.evaluate_automation_conditions(defs=pipeline.defs, instance=pipeline.instance, cursor=after_day.cursor)
    assert settled.total_requested == 0  # built: not again until a parent changes


def test_landing_folders_are_sources_in_the_graph_observed_when_their_files_change(pipeline):
    graph = pipeline.defs.resolve_asset_graph()
    for source, children in {
        "landing_tickets": ("raw_tickets", "raw_tickets_quarantine"),
        "landing_crm": ("customers", "customers_quarantine"),
        "landing_catalog": ("products", "products_quarantine"),
        "landing_orders": ("orders", "orders_quarantine"),
        "landing_kb": ("kb_articles", "kb_articles_quarantine"),
        "landing_reviews": ("review_decisions", "review_decisions_quarantine"),
        "landing_labels": ("ticket_labels", "ticket_labels_quarantine"),
        "landing_kb_reviews": ("kb_review_decisions", "kb_review_decisions_quarantine"),
    }.items():
        assert {c.to_user_string() for c in graph.get(dg.AssetKey(source)).child_keys} >= set(children)
    node = graph.get(dg.AssetKey("ticket_triage"))
    assert {"pii", "llm"} <= set(node.tags) and node.owners == ["team:ai-assets"]
    assert "pii" not in graph.get(dg.AssetKey("kb_chunks")).tags

    sensor = pipeline.defs.resolve_sensor_def("landing_observer_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    def observe(cursor: str | None = None) -> dg.SensorResult:
        return sensor(dg.build_sensor_context(instance=pipeline.instance, cursor=cursor, definitions=pipeline.defs))

    first = observe()
    observed = {e.asset_key.to_user_string(): e for e in first.asset_events}
    assert set(observed) == {
        "landing_tickets",
        "landing_crm",
        "landing_catalog",
        "landing_orders",
        "landing_kb",
        "landing_reviews",
        "landing_labels",
        "landing_kb_reviews",
        "landing_product_reviews",  # declared: ai_assets/defs/reviews/product_reviews/defs.yaml
    }
    assert observed["landing_crm"].metadata["files"].value == 1
    assert observed["landing_catalog"].metadata["files"].value == 1
    unchanged = observe(first.cursor)
    assert unchanged.asset_events == []
    (pipeline.settings.landing_dir / "kb" / "new-article.md").write_text("---\ntitle: New\n---\nbody\n")
    changed = observe(unchanged.cursor)
    assert [e.asset_key.to_user_string() for e in changed.asset_events] == ["landing_kb"]
    version = changed.asset_events[0].tags["dagster/data_version"]
    assert version != observed["landing_kb"].tags["dagster/data_version"]
    day = pipeline.settings.landing_dir / "product_reviews" / "2026-11-01"
    day.mkdir(parents=True)
    (day / "reviews.jsonl").write_text('{"review_id": "R-1"}\n')
    declared = observe(changed.cursor)
    assert [e.asset_key.to_user_string() for e in declared.asset_events] == ["landing_product_reviews"]


def test_a_new_asset_joins_the_jobs_of_its_feature_with_no_edit(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    daily = Daily.from_settings(settings.project)

    @dg.asset(group_name="replies", deps=["reply_drafts"], **daily.asset_args())
    def reply_translations(): ...

    @dg.asset(group_name="kb_updates", deps=["kb_publications"])
    def kb_announcements(): ...

    defs = dg.Definitions.merge(
        build_definitions(settings), dg.Definitions(assets=[reply_translations, kb_announcements])
    )

    def selected(job: str) -> set[str]:
        return {key.to_user_string() for key in defs.get_job_def(job).asset_layer.selected_asset_keys}

    assert {"reply_translations", "reply_drafts", "raw_tickets"} <= selected("daily_tickets_job")
    assert "review_decisions" not in selected("daily_tickets_job")  # reviews_job reads the decisions
    assert {"kb_announcements", "kb_publications"} <= selected("kb_updates_job")
    assert "reply_translations" not in selected("kb_updates_job")
