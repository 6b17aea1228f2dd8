"""A new LLM-enriched table over a table that is not tickets, declared in a defs.yaml and a prompt
file only (no Python), in a defs folder as `dg` loads one, materialised for real against the fake
server: its failures table, checks, lineage columns, descriptions and zero-call rerun."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import dagster as dg
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ai_assets.components import LLMStep
from ai_assets.definitions import build_definitions
from ai_assets_tests.conftest import DAY_1, DAY_2, Pipeline
from ai_assets_tests.declared import check_results, declare, errors_said, materialise, with_project
from ai_assets_tests.fakes.llm_server import Fault

PROMPT = """[system]
You judge the delivery risk of web-shop orders from the order system's export. Answer with JSON only.

[user]
Order {order_id}: status {status}, carrier {carrier}, expected {expected_delivery}.
"""
STEP = {
    "type": "ai_assets.components.LLMStep",
    "attributes": {
        "name": "order_risk",
        "description": "One row per order of a day's export, with the LLM's view of its delivery risk.",
        "input": "orders",
        "key": ["order_id"],
        "group": "orders",
        "fields": [
            {"name": "risk", "type": "enum", "values": ["low", "medium", "high"], "description": "How likely late"},
            {"name": "late", "type": "boolean", "description": "Already past its expected delivery"},
            {"name": "note", "type": "string", "max_length": 60, "nullable": True, "description": "Why, briefly"},
        ],
    },
}
ORDER_ASSETS = ["orders", "orders_quarantine"]


class OrderRisk(BaseModel):
    """An answer model of one's own, for `output_model`: its validators apply to every answer."""

    model_config = ConfigDict(extra="forbid")

    risk: Literal["low", "medium", "high"] = Field(description="How likely the order is late")
    note: str | None = Field(max_length=60, description="Why, briefly")

    @field_validator("note")
    @classmethod
    def shouted(cls, value: str | None) -> str | None:
        return value.upper() if value else value


STEP_ASSETS = ["order_risk", "order_risk_failures"]


def _declare(folder: Path, step: dict = STEP, prompt: str = PROMPT) -> None:
    """What a data engineer writes: a defs.yaml and a prompt file, nothing else."""
    declare(folder, step, prompt=prompt)


def test_a_declared_step_over_orders_runs_two_days_checks_and_reruns_for_free(pipeline: Pipeline, sandbox):
    _declare(sandbox.defs_folder_path / "order_risk")
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        graph = defs.resolve_asset_graph()
        node = graph.get(dg.AssetKey("order_risk"))
        assert node.code_version.startswith("order_risk@") and node.code_version.endswith("+fake-model")
        assert node.group_name == "orders" and node.partitions_def is not None
        # It joins the day's job by its tag, with no list edited.
        daily_job = defs.resolve_job_def("daily_tickets_job").asset_layer.executable_asset_keys
        assert {dg.AssetKey(name) for name in STEP_ASSETS} <= set(daily_job)
        for table in STEP_ASSETS:  # every column described, in the UI's column schema
            schema = graph.get(dg.AssetKey(table)).metadata["dagster/column_schema"]
            assert all(column.description for column in schema.columns), table

        results = {}
        for day in (DAY_1, DAY_2):
            materialise(pipeline, defs, day, ORDER_ASSETS)
            results[day] = materialise(pipeline, defs, day, STEP_ASSETS)
        calls = pipeline.server.call_count

        for day, result in results.items():
            orders = pipeline.count("orders", f"created_date = '{day}'")
            assert orders > 0
            assert pipeline.count("order_risk", f"created_date = '{day}'") == orders  # the fake answers validly
            assert pipeline.count("order_risk_failures", f"created_date = '{day}'") == 0
            checks = check_results(result)
            assert set(checks) == {
                "order_risk_matches_contract",
                "order_risk_failures_matches_contract",
                "every_orders_row_in_order_risk_once",
            }
            assert all(checks.values()), checks
            metadata = result.asset_materializations_for_node("order_risk")[0].metadata
            assert metadata["llm_calls"].value == orders and metadata["model"].value == "fake-model"
        lineage = "model is null or prompt_version is null or input_hash is null or cost_usd is null"
        assert pipeline.count("order_risk", lineage) == 0
        assert pipeline.sql("select distinct risk in ('low', 'medium', 'high') from order_risk") == [(True,)]
        assert calls == pipeline.count("orders")  # one call per order

        # An unchanged rerun of both days asks nothing and changes no answer (the rows say they came
        # from the cache).
        answers = (
            "select created_date, order_id, risk, late, note, input_hash, prompt_version from order_risk order by 1, 2"
        )
        before = pipeline.sql(answers)
        for day in (DAY_1, DAY_2):
            materialise(pipeline, defs, day, STEP_ASSETS)
        assert pipeline.server.call_count == calls
        assert pipeline.sql(answers) == before
        assert pipeline.count("order_risk", "not cache_hit") == 0


def test_a_step_with_its_own_model_and_prices_asks_that_model_and_costs_its_prices(pipeline: Pipeline, sandbox):
    priced = {"chat_model": "large-model", "prices": {"input_per_1m": 1000.0, "output_per_1m": 2000.0}}
    _declare(sandbox.defs_folder_path / "order_risk", {**STEP, "attributes": {**STEP["attributes"], **priced}})
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        node = defs.resolve_asset_graph().get(dg.AssetKey("order_risk"))
        assert node.code_version.endswith("+large-model")  # a new model marks the step unsynced
        materialise(pipeline, defs, DAY_1, ORDER_ASSETS)
        result = materialise(pipeline, defs, DAY_1, STEP_ASSETS)
    metadata = result.asset_materializations_for_node("order_risk")[0].metadata
    assert metadata["model"].value == "large-model" and "cost_note" not in metadata
    rows = pipeline.sql("select distinct model, cost_usd > 0 from order_risk")
    assert rows == [("large-model", True)]
    # Every request of the step named its model (orders are loaded without the LLM).
    assert {request["model"] for request in pipeline.server.requests} == {"large-model"}


def test_a_pydantic_model_path_gives_the_columns_and_its_validators_apply(pipeline: Pipeline, sandbox):
    attributes = {k: v for k, v in STEP["attributes"].items() if k != "fields"}
    model = f"{__name__}:OrderRisk"
    _declare(sandbox.defs_folder_path / "order_risk", {**STEP, "attributes": {**attributes, "output_model": model}})
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        schema = defs.resolve_asset_graph().get(dg.AssetKey("order_risk")).metadata["dagster/column_schema"]
        columns = {column.name: column for column in schema.columns}
        assert columns["risk"].description == "How likely the order is late; one of `low`, `medium`, `high`"
        assert columns["note"].constraints.nullable and "late" not in columns
        materialise(pipeline, defs, DAY_1, ORDER_ASSETS)
        materialise(pipeline, defs, DAY_1, STEP_ASSETS)
    notes = pipeline.sql("select distinct note from order_risk where note is not null")
    assert notes and all(note == note.upper() for (note,) in notes)


def test_an_invalid_answer_is_a_failures_row_with_its_reason(pipeline: Pipeline, sandbox):
    _declare(sandbox.defs_folder_path / "order_risk")
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        materialise(pipeline, defs, DAY_1, ORDER_ASSETS)
        victim = pipeline.sql(f"select order_id from orders where created_date = '{DAY_1}' order by 1 limit 1")[0][0]
        pipeline.server.inject(*[Fault(content='{"risk": "catastrophic"}', match=f"Order {victim}:")] * 5)

        result = materialise(pipeline, defs, DAY_1, STEP_ASSETS)

    failed = pipeline.sql("select order_id, error_type, reason from order_risk_failures")
    assert [(order, kind) for order, kind, _ in failed] == [(victim, "invalid_output")]
    assert "risk" in failed[0][2]
    orders = pipeline.count("orders", f"created_date = '{DAY_1}'")
    assert pipeline.count("order_risk") == orders - 1
    assert all(check_results(result).values())  # conservation holds: the failed order is in the failures table


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": ["order_number"]}, "key column 'order_number'"),
        ({"input": "invoices"}, "LLMStep input 'invoices' is neither a warehouse table"),
        ({"input": "customers", "key": ["customer_id"]}, "input customers is not a daily table"),
        ({"fields": [{"name": "model", "description": "x"}]}, "field 'model' is a reserved column name"),
        ({"fields": [{"name": "risk", "description": " "}]}, "field 'risk' has no description"),
        (
            {"fields": [], "output_model": "ai_assets_tests.nowhere:Model"},
            "output_model 'ai_assets_tests.nowhere:Model'",
        ),
        ({"fields": []}, "give either `fields` or `output_model`"),
    ],
)
def test_a_wrong_declaration_names_what_is_wrong(sandbox, change, message):
    step = {**STEP, "attributes": {**STEP["attributes"], **change}}
    prompt = PROMPT if "customers" not in str(change) else PROMPT.replace("Order {order_id}", "{customer_id}")
    _declare(sandbox.defs_folder_path / "order_risk", step, prompt)
    with pytest.raises(Exception) as raised, sandbox.build_all_defs():
        pass
    assert message in errors_said(raised.value)


def test_an_unknown_prompt_placeholder_is_named(sandbox):
    _declare(sandbox.defs_folder_path / "order_risk", prompt=PROMPT.replace("{carrier}", "{shipper}"))
    with pytest.raises(Exception) as raised, sandbox.build_all_defs():
        pass
    assert "prompt placeholder {shipper}" in errors_said(raised.value)


def test_the_scaffolded_skeleton_loads_as_it_is(sandbox):
    path = sandbox.scaffold_component(component_cls=LLMStep, defs_path="my_step")
    assert (path / "prompt.txt").exists()
    assert yaml.safe_load((path / "defs.yaml").read_text())["type"].endswith(".LLMStep")
    with sandbox.build_all_defs() as declared:
        keys = {key.to_user_string() for assets in declared.assets for key in assets.keys}
        checks = {key.name for checks in declared.asset_checks for key in checks.check_keys}
    assert keys == {"my_step", "my_step_failures"}
    assert "every_raw_tickets_row_in_my_step_once" in checks


def test_the_settings_the_definitions_are_built_with_reach_the_declared_steps(pipeline: Pipeline):
    """The shipped review_sentiment step takes its model (its code version) from the settings handed to
    build_definitions, as the Python assets do, not from a second read of the environment."""
    other = replace(pipeline.settings, llm=pipeline.settings.llm.model_copy(update={"chat_model": "other-model"}))
    versions = [
        build_definitions(settings).resolve_asset_graph().get(dg.AssetKey("review_sentiment")).code_version
        for settings in (pipeline.settings, other)
    ]
    assert versions[0].endswith("+fake-model") and versions[1].endswith("+other-model")
