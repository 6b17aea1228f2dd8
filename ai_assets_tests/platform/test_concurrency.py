"""A real backfill: submitted to `dagster dev`'s webserver, run by its daemon, with the shipped
instance config, the multiprocess executor and parallel runs, all on one DuckDB file."""

from __future__ import annotations

import time

import dagster as dg

from ai_assets.automation.instance import ensure_dagster_home
from ai_assets.cli import main as ai_assets_cli
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import configure_env
from ai_assets_tests.dagster_dev import DagsterDev
from ai_assets_tests.fakes.llm_server import FakeLLMServer

DAYS = [f"2026-11-{day:02d}" for day in range(1, 11)]
TROUBLE = {"STEP_FAILURE", "STEP_UP_FOR_RETRY", "RUN_FAILURE"}
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
# A step process starting or dbt building the marts makes no call and changes no run for minutes on
# a busy 2-core machine; nothing it does takes 10 (measured: whole backfills of 15 min pass).
STALL_S = 600
CAP_S = 3600


def _wait_for(instance: dg.DagsterInstance, backfill_id: str, server: FakeLLMServer) -> str:
    """The backfill's final status once it and every run are done. It may take as long as it keeps
    moving (a run changes state or the LLM server gets a call at least every STALL_S), up to CAP_S: a
    busy machine is slow, not wrong; a backfill that stops moving is."""
    started = moved = time.monotonic()
    seen = None
    while True:
        status = instance.get_backfill(backfill_id).status.value
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        in_flight = instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT))
        if status not in ("REQUESTED", "CANCELING", "FAILING") and not in_flight:
            return status
        state = (status, server.call_count, sorted((run.run_id, run.status.value) for run in runs))
        if state != seen:
            seen, moved = state, time.monotonic()
        waited, still = time.monotonic() - started, time.monotonic() - moved
        if still > STALL_S or waited > CAP_S:
            raise TimeoutError(
                f"backfill {backfill_id} still {status} after {waited:.0f} s, unchanged for {still:.0f} s; its runs: "
                + ", ".join(f"{run.run_id[:8]} {run.status.value}" for run in runs)
            )
        time.sleep(2)


def test_ten_day_backfill_through_the_daemon_groups_days_and_runs_in_parallel(tmp_path, monkeypatch, capsys):
    # The first LLM call is held until a second one is in flight: the two groups' runs overlap by
    # construction, not by luck; if the second never comes (runs one after the other), the gate
    # gives up after a bound and the assertion below says so.
    with FakeLLMServer(rendezvous=2, rendezvous_timeout_s=300) as server:
        settings = configure_env(monkeypatch, tmp_path / "data", server)
        monkeypatch.setenv("AI_ASSETS_LLM_TIMEOUT_S", "600")  # a held call is not a timed-out one
        generate_sample_data(settings.data_dir, days=len(DAYS), tickets_per_day=10, golden_size=0)
        monkeypatch.setenv("AI_ASSETS_EXECUTOR", "multiprocess")
        # One call in flight per run: any overlap the server sees is between runs.
        monkeypatch.setenv("AI_ASSETS_LLM_CONCURRENCY", "1")
        home = ensure_dagster_home(settings.dagster_home)
        monkeypatch.setenv("DAGSTER_HOME", str(home))

        with dg.DagsterInstance.get() as instance:  # the marts join the CRM, loaded once beforehand
            build_definitions(load_settings()).resolve_job_def("reference_data_job").execute_in_process(
                instance=instance
            )
        # `dagster dev`: its webserver takes the backfill (as the UI's button), its daemon runs it.
        dev = DagsterDev(tmp_path / "dagster_dev.log", home)
        try:
            assert ai_assets_cli(["backfill", DAYS[0], DAYS[-1], "--url", dev.url]) == 0
            backfill_id = capsys.readouterr().out.split()[2]
            with dg.DagsterInstance.get() as instance:
                status = _wait_for(instance, backfill_id, server)
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
                trouble = [
                    f"{run.run_id[:8]} {event.dagster_event.event_type_value}: {event.dagster_event.message}"
                    for run in runs
                    for event in instance.all_logs(run.run_id)
                    if event.dagster_event and event.dagster_event.event_type_value in TROUBLE
                ]
        finally:
            dev.stop()

    assert status == "COMPLETED_SUCCESS", (status, trouble, (tmp_path / "dagster_dev.log").read_text()[-3000:])
    assert trouble == []  # no step failed or retried: no lock error anywhere, not even a retried one
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    # 10 days in runs of 5 (the default AI_ASSETS_BACKFILL_DAYS_PER_RUN), then the marts (unpartitioned
    # runs, as their parents complete).
    ranges = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in runs
        if "dagster/asset_partition_range_start" in r.tags
    )
    assert ranges == [(DAYS[0], DAYS[4]), (DAYS[5], DAYS[9])]
    assert len(runs) > len(ranges)
    assert server.rendezvous_reached, "the two groups' runs never had LLM calls in flight at once (ran serially?)"

    with settings.warehouse.lake.connect(read_only=True) as conn:
        raw = dict(conn.execute("select created_date::varchar, count(*) from raw_tickets group by 1").fetchall())
        outcomes = dict(
            conn.execute(
                "select created_date::varchar, count(*) from (select created_date from ticket_triage"
                " union all select created_date from ticket_triage_failures) group by 1"
            ).fetchall()
        )
        mart_days = conn.execute("select count(distinct created_date) from ticket_kpis_daily").fetchone()[0]
    assert sorted(raw) == DAYS and raw == outcomes and mart_days == len(DAYS)


def test_a_backfill_without_a_webserver_says_what_to_start(tmp_path, monkeypatch, capsys):
    from ai_assets_tests.fakes.loopback import free_port

    settings = configure_env(monkeypatch, tmp_path / "data", None)
    generate_sample_data(settings.data_dir, days=2, tickets_per_day=10, golden_size=0, handwritten=False)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    assert ai_assets_cli(["backfill", "2026-11-01", "2026-11-02", "--url", url]) == 1
    error = capsys.readouterr().err
    assert f"no Dagster webserver answers at {url}" in error and "start `ai-assets dev`" in error
