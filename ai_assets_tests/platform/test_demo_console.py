"""What `ai-assets demo` prints of a run, from the events of real runs: each warning once per run,
a line for every step that materialised (dbt's too), none for a step that only ran checks; and a
code server slow to stop does not fail the command."""

from __future__ import annotations

import subprocess

import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext

from ai_assets.automation.instance import ensure_dagster_home
from ai_assets.pipeline import LOCATION, RunConsole, console_line, workspace
from ai_assets_tests.conftest import DAY_1, Pipeline, configure_env


def _lines(pipeline: Pipeline, run_id: str, console: RunConsole | None = None) -> list[str]:
    console = console if console is not None else RunConsole()
    lines = (console_line(entry, console) for entry in pipeline.instance.all_logs(run_id))
    return [line.strip() for line in lines if line]


def test_the_demo_says_each_warning_once_per_run_and_gives_every_step_its_line(pipeline: Pipeline):
    pipeline.run("reference_data_job")
    before_day = pipeline.server.call_count
    day = pipeline.run("daily_tickets_job", DAY_1)
    day_requests = pipeline.server.call_count - before_day
    marts = pipeline.run("marts_job")

    counted = RunConsole()
    day_lines = _lines(pipeline, day.run_id, counted)
    warnings = [line for line in day_lines if line.startswith("warning:")]
    # The fake model has no prices: every LLM step of the day warns, the terminal says it once.
    assert any("prices unset for fake-model" in line for line in warnings)
    assert len(warnings) == len(set(warnings))
    done = {line.split()[0] for line in day_lines if " done in " in line}
    assert {"raw_tickets", "ticket_triage", "reply_drafts", "outbox_deliveries"} <= done
    assert not any("_matches_contract" in step for step in done)  # check steps have no line of their own

    assert any(line.startswith("dbt_marts") and " done in " in line for line in _lines(pipeline, marts.run_id))

    # The run's LLM calls and tokens, summed once per step (a step's metrics are on each table it
    # writes): every request the fake server got during the day's run.
    # review_sentiment: the reviews step declared in ai_assets/defs/reviews/ (no reviews landed here: 0 calls).
    # ticket_summaries: declared in ai_assets/defs/summaries/, one call per ticket in the review queue.
    llm_steps = {
        "ticket_triage",
        "ticket_context",
        "ticket_investigations",
        "reply_drafts",
        "review_sentiment",
        "ticket_summaries",
    }
    assert set(counted.llm_by_step) == llm_steps
    assert sum(step["llm_calls"] for step in counted.llm_by_step.values()) == day_requests
    assert counted.llm_summary().startswith(f"; LLM {day_requests:,} calls, ")


def test_a_code_server_slower_to_stop_than_dagster_waits_does_not_fail_the_demo(tmp_path, monkeypatch):
    """Dagster waits 30 s for the code server it stopped and then raises; on a busy machine it takes
    longer (seen under load: the demo's runs all succeeded, the command failed). The demo waits longer."""
    configure_env(monkeypatch, tmp_path / "data", None)
    home = ensure_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    original_exit = WorkspaceProcessContext.__exit__
    # A child still stopping when Dagster gives up on it, and one the demo must not wait for.
    slow, other = subprocess.Popen(["sleep", "2"]), subprocess.Popen(["sleep", "600"])

    def gives_up(self, *args):
        original_exit(self, *args)
        raise subprocess.TimeoutExpired(cmd=slow.args, timeout=30)

    monkeypatch.setattr(WorkspaceProcessContext, "__exit__", gives_up)
    try:
        with dg.DagsterInstance.get() as instance, workspace(instance) as context:
            assert context.get_code_location(LOCATION) is not None
        assert slow.poll() is not None  # waited for, not left behind
        assert other.poll() is None  # not waited for
    finally:
        other.kill()
        other.wait()
