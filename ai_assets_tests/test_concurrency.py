"""Several partitions at once, in parallel run processes with the multiprocess executor, one DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import duckdb

from ai_assets.automation.instance import ensure_dagster_home
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import configure_env
from ai_assets_tests.llm_server import FakeLLMServer

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


def daily_tickets_job() -> dg.JobDefinition:
    """Rebuilt in every run and step process from the environment the test set."""
    from ai_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("daily_tickets_job")


def run_partition(day: str) -> None:
    """One run, as the run launcher would start it: its own process, the shared instance."""
    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(dg.reconstructable(daily_tickets_job), instance=instance, tags={"dagster/partition": day}) as result:
            for event in result.all_events:
                if event.is_failure:
                    print(f"FAILURE {day}: {event.message}", flush=True)
            sys.exit(0 if result.success else 1)


def test_parallel_runs_have_no_lock_errors_and_overlapping_llm_calls(tmp_path, monkeypatch):
    with FakeLLMServer(latency=0.05) as server:
        settings = configure_env(monkeypatch, tmp_path / "data", server)
        generate_sample_data(settings.data_dir, days=len(DAYS), tickets_per_day=12, golden_size=0)
        # The shipped instance config, with its storage created once before the runs start:
        # run processes racing to create the same SQLite schema fail at start-up.
        home = ensure_dagster_home(tmp_path / "dagster_home")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            instance.get_runs()
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "AI_ASSETS_EXECUTOR": "multiprocess",
            # One call in flight per run: any overlap the server sees is between partitions.
            "AI_ASSETS_LLM_CONCURRENCY": "1",
        }
        script = "import sys; from ai_assets_tests.test_concurrency import run_partition; run_partition(sys.argv[1])"
        runs = [
            subprocess.Popen([sys.executable, "-c", script, day], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for day in DAYS
        ]
        logs = [run.communicate(timeout=600)[0] for run in runs]
        assert [run.returncode for run in runs] == [0] * len(DAYS), [line for log in logs for line in log.splitlines() if "FAILURE" in line]
        assert not any("lock" in line.lower() and "FAILURE" in line for log in logs for line in log.splitlines())
        assert server.peak_concurrency >= 2

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        raw = dict(conn.execute("select created_date::varchar, count(*) from raw_tickets group by 1").fetchall())
        outcomes = dict(
            conn.execute(
                "select created_date::varchar, count(*) from (select created_date from ticket_triage"
                " union all select created_date from ticket_triage_failures) group by 1"
            ).fetchall()
        )
    assert sorted(raw) == DAYS and raw == outcomes
