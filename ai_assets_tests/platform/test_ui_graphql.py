"""What the Dagster UI shows, read through its GraphQL API from a `dagster dev` the test starts:
the demo's runs belong to the code location, ticket_triage has its columns, a day's check reports
that day, and every LLM asset reports the same metric keys."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ai_assets.llm.metrics import StepMetrics
from ai_assets.pipeline import LOCATION
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import configure_env
from ai_assets_tests.dagster_dev import DagsterDev
from ai_assets_tests.fakes.llm_server import FakeLLMServer
from ai_assets_tests.processes import MARK, marked_processes

LLM_ASSETS = ("ticket_triage", "reply_drafts", "reply_rounds", "kb_embeddings", "ticket_context")


@pytest.fixture
def ui(tmp_path, monkeypatch):
    """The `ai-assets demo` command on a small sample day (yesterday) against the fake server, then
    `dagster dev`; and the processes the command left behind, if any (its code server, run workers)."""
    with FakeLLMServer(model_name="fake-model") as server:
        settings = configure_env(monkeypatch, tmp_path / "data", server)
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        generate_sample_data(
            settings.data_dir, start=yesterday, days=1, tickets_per_day=12, golden_size=20, handwritten=False
        )
        mark = f"{os.environ[MARK]} ai-assets demo"
        monkeypatch.setenv(MARK, mark)
        demo = subprocess.run([str(Path(sys.executable).parent / "ai-assets"), "demo"], capture_output=True, text=True)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        left_behind = marked_processes(mark)
        monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
        dev = DagsterDev(tmp_path / "dagster_dev.log")
        try:
            yield dev, str(yesterday), left_behind
        finally:
            dev.stop()


def _metadata(entries: list[dict]) -> dict[str, dict]:
    return {entry["label"]: entry for entry in entries}


def test_the_ui_shows_the_demo_runs_columns_checks_and_metrics(ui):
    dev, day, left_behind = ui
    assert left_behind == {}, "processes still running after `ai-assets demo` exited"
    runs = dev.query(
        "{ runsOrError { ... on Runs { results { runId jobName status"
        " repositoryOrigin { repositoryLocationName } } } } }"
    )["runsOrError"]["results"]
    assert {r["jobName"] for r in runs} == {"reference_data_job", "eval_job", "daily_tickets_job", "marts_job"}
    assert all(r["status"] == "SUCCESS" and r["repositoryOrigin"]["repositoryLocationName"] == LOCATION for r in runs)
    # Re-executed from the UI (its "Re-execute all" button sends this mutation); the daemon runs it.
    (marts,) = [r["runId"] for r in runs if r["jobName"] == "marts_job"]
    launched = dev.query(
        """mutation($parent: String!) { launchPipelineReexecution(reexecutionParams: {parentRunId: $parent,
             strategy: ALL_STEPS}) { __typename ... on LaunchRunSuccess { run { runId } }
             ... on PythonError { message } } }""",
        {"parent": marts},
    )["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert dev.wait_for_run(launched["run"]["runId"]) == "SUCCESS"

    node = dev.query(
        """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
             metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name type description } } } }
        } } }""",
        {"key": {"path": ["ticket_triage"]}},
    )["assetNodeOrError"]
    columns = _metadata(node["metadataEntries"])["dagster/column_schema"]["schema"]["columns"]
    assert {"ticket_id", "category", "confidence", "cost_usd"} <= {c["name"] for c in columns}
    assert all(c["type"] for c in columns) and any(c["description"] for c in columns)

    executions = dev.query(
        """query($key: AssetKeyInput!) { assetCheckExecutions(assetKey: $key, checkName: "every_ticket_triaged_once",
             limit: 5) { runId status evaluation { success metadataEntries { label
               ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } } } } }""",
        {"key": {"path": ["ticket_triage"]}},
    )["assetCheckExecutions"]
    (evaluation,) = [e["evaluation"] for e in executions if e["status"] == "SUCCEEDED"]
    check = _metadata(evaluation["metadataEntries"])
    assert evaluation["success"] and check["partitions"]["text"] == day
    assert check["raw_rows"]["intValue"] == check["outcome_rows"]["intValue"] > 0

    vocabulary = set(StepMetrics().metadata())
    for asset in LLM_ASSETS:
        materializations = dev.query(
            """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
                 assetMaterializations(limit: 1) { metadataEntries { label } } } } }""",
            {"key": {"path": [asset]}},
        )["assetOrError"]["assetMaterializations"]
        labels = {entry["label"] for entry in materializations[0]["metadataEntries"]}
        assert labels >= vocabulary, (asset, vocabulary - labels)
