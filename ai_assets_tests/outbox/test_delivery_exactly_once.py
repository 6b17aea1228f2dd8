"""Fail loud, never double: deliveries stay exactly-once when runs of the same day overlap, a hung
webhook cannot stall a run, and undelivered actions are retried without rerunning the day.

Everything real: processes, the delivery ledger (SQLite, and PostgreSQL), the JSONL file, DuckDB, Dagster runs,
and HTTP to a receiver on loopback that counts Idempotency-Keys."""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ai_assets.automation.instance import DAGSTER_YAML, ensure_dagster_home
from ai_assets.config import Settings, load_settings
from ai_assets.definitions import build_definitions
from ai_assets.defs.outbox.tables import OUTBOX, OUTBOX_DELIVERIES
from ai_assets.load.ledger import DeliveryLedger
from ai_assets.load.outbox import DeliveryPolicy, JsonlSink, WebhookSink, deliver
from ai_assets_tests.conftest import configure_env
from ai_assets_tests.fakes.outbox_rows import day_actions
from ai_assets_tests.fakes.webhook_receiver import WebhookReceiver
from ai_assets_tests.processes import start_group, stop_group

DAY = date(2026, 11, 1)
ROUNDS = 20
ACTIONS_PER_DAY = 85  # the day of the defect report: 38 of its 85 actions were sent twice
SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters, as two Dagster runs are


def _collect(results, count: int, workers: list) -> list:
    """`count` results from `workers`, failing as soon as one of them died instead of waiting."""
    collected = []
    while len(collected) < count:
        try:
            collected.append(results.get(timeout=2))
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            assert not dead, f"a worker process failed (exit codes {dead}): see its traceback above"
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)
    return collected


def _delivery_worker(name: str, rounds: list[tuple[str, str]], barrier, results) -> None:
    """One "run" per round: deliver the day's actions, starting with the other process."""
    actions = day_actions(ACTIONS_PER_DAY)
    for ledger_location, target in rounds:
        sink = WebhookSink(target) if target.startswith("http") else JsonlSink(Path(target))
        barrier.wait(timeout=120)
        with DeliveryLedger(ledger_location, owner=name) as ledger:
            report = deliver(actions, OUTBOX_DELIVERIES.empty(), sink, ledger, DeliveryPolicy(), [DAY])
        results.put((str(ledger_location), name, len(report.sent), len(report.found), len(report.failed)))


@pytest.mark.parametrize(("sink", "store"), [("jsonl", "sqlite"), ("webhook", "sqlite"), ("webhook", "postgres")])
def test_two_runs_of_the_same_day_started_together_20_times_deliver_each_action_once(tmp_path, sink, store, request):
    """The ledger in a SQLite file (one machine), or in PostgreSQL (AI_ASSETS_STATE_URL: two machines)."""
    postgres = request.getfixturevalue("postgres") if store == "postgres" else None
    with WebhookReceiver(latency=0.002) as hook:
        rounds = [
            (
                postgres.new_database() if postgres else str(tmp_path / f"round-{i:02d}" / "ledger.sqlite"),
                f"{hook.url}/round-{i:02d}"
                if sink == "webhook"
                else str(tmp_path / f"round-{i:02d}" / "actions.jsonl"),
            )
            for i in range(ROUNDS)
        ]
        barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
        workers = [SPAWN.Process(target=_delivery_worker, args=(n, rounds, barrier, results)) for n in ("a", "b")]
        for worker in workers:
            worker.start()
        outcome = _collect(results, 2 * ROUNDS, workers)

        by_round = pl.DataFrame(outcome, schema=["round", "run", "sent", "found", "failed"], orient="row")
        per_round = by_round.group_by("round").agg(pl.col("sent").sum(), pl.col("found").sum(), pl.col("failed").sum())
        assert per_round.height == ROUNDS
        assert set(per_round["sent"]) == {ACTIONS_PER_DAY} and set(per_round["failed"]) == {0}
        # The two runs really overlapped: in some rounds both of them sent part of the day.
        assert by_round.filter(pl.col("sent") > 0).group_by("round").len()["len"].max() == 2

        if sink == "webhook":
            assert hook.duplicates() == {}
            assert len(hook.received) == len(set(hook.received)) == ROUNDS * ACTIONS_PER_DAY
        else:
            for _, target in rounds:
                ids = [json.loads(line)["action_id"] for line in Path(target).read_text().splitlines()]
                assert len(ids) == len(set(ids)) == ACTIONS_PER_DAY


def _settings(monkeypatch, tmp_path: Path, **env: str) -> Settings:
    configure_env(monkeypatch, tmp_path / "data", None)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def _write_outbox(settings: Settings, actions: pl.DataFrame) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    warehouse = settings.warehouse
    warehouse.prepare()
    warehouse.write({OUTBOX: actions}, [DAY])


def _deliveries(settings: Settings) -> pl.DataFrame:
    with settings.warehouse.lake.connect(read_only=True) as conn:
        return conn.execute("SELECT * FROM outbox_deliveries ORDER BY action_id").pl()


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, partition: str) -> dg.ExecuteInJobResult:
    return defs.resolve_job_def("outbox_retry_job").execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )


def _dagster_run_worker(barrier, results) -> None:
    defs = build_definitions(load_settings())  # the settings of the environment the test set up
    barrier.wait(timeout=120)
    with dg.DagsterInstance.ephemeral() as instance:
        results.put(_run(defs, instance, DAY.isoformat()).success)


def test_two_dagster_runs_of_the_same_day_at_once_deliver_each_action_once(tmp_path, monkeypatch):
    with WebhookReceiver(latency=0.005) as hook:
        settings = _settings(monkeypatch, tmp_path, AI_ASSETS_OUTBOX_WEBHOOK_URL=hook.url)
        _write_outbox(settings, day_actions(ACTIONS_PER_DAY))
        barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
        runs = [SPAWN.Process(target=_dagster_run_worker, args=(barrier, results)) for _ in range(2)]
        for run in runs:
            run.start()
        successes = _collect(results, 2, runs)

    assert successes == [True, True]
    assert hook.duplicates() == {} and len(hook.received) == len(hook.accepted) == ACTIONS_PER_DAY
    deliveries = _deliveries(settings)
    # The run that wrote last also read the ledger last: every action ends delivered, once.
    assert deliveries.height == ACTIONS_PER_DAY and set(deliveries["status"]) == {"delivered"}
    assert set(deliveries["attempts"]) == {1}


def test_a_hung_webhook_cannot_stall_the_run_and_the_retry_schedule_delivers_later(tmp_path, monkeypatch):
    with WebhookReceiver(mode="hang") as hook:
        settings = _settings(
            monkeypatch,
            tmp_path,
            AI_ASSETS_OUTBOX_WEBHOOK_URL=hook.url,
            AI_ASSETS_OUTBOX_TIMEOUT_S="0.5",
            AI_ASSETS_OUTBOX_MAX_ATTEMPTS="2",
            AI_ASSETS_OUTBOX_BACKOFF_S="0.01",
            AI_ASSETS_OUTBOX_BREAKER_FAILURES="3",
        )
        _write_outbox(settings, day_actions(12))
        defs = build_definitions(settings)
        with dg.DagsterInstance.ephemeral() as instance:
            stalled = _run(defs, instance, DAY.isoformat())

            # 3 actions x 2 attempts of 0.5 s each, then the circuit opens: the other 9 are not tried.
            assert len(hook.received) == 6
            assert not stalled.success  # the step's work mostly failed: a failed step that says what to check
            failure = next(e for e in stalled.all_events if e.event_type_value == "STEP_FAILURE")
            description = failure.step_failure_data.user_failure_data.description
            assert description.startswith("12 of 12 actions due were not delivered to the webhook sink (webhook sink")
            assert "AI_ASSETS_OUTBOX_WEBHOOK_URL" in description and "outbox_retry_schedule" in description
            # ... recorded first: every action is on the table as failed, with why.
            metadata = stalled.asset_materializations_for_node("outbox_deliveries")[0].metadata
            assert metadata["failed"].value == 12 and metadata["not_attempted"].value == 9
            errors = _deliveries(settings).group_by("status", "attempts", "last_error").len().sort("attempts").rows()
            assert errors == [
                ("failed", 0, "not attempted: webhook sink circuit open after 3 consecutive failures", 9),
                ("failed", 2, "webhook did not answer within 0.5 s (AI_ASSETS_OUTBOX_TIMEOUT_S)", 3),
            ]

            # The receiver answers again; the retry schedule's next tick asks for exactly that day.
            hook.mode = "ok"
            hook.release()
            tick = dg.build_schedule_context(
                instance=instance, scheduled_execution_time=datetime.now(UTC), repository_def=defs.get_repository_def()
            )
            requests = defs.resolve_schedule_def("outbox_retry_schedule").evaluate_tick(tick).run_requests
            assert [request.partition_key for request in requests] == [DAY.isoformat()]
            assert _run(defs, instance, requests[0].partition_key).success
            nothing_left = defs.resolve_schedule_def("outbox_retry_schedule").evaluate_tick(tick)
            assert nothing_left.run_requests == [] and nothing_left.skip_message == "No failed deliveries to retry"

    deliveries = _deliveries(settings)
    assert set(deliveries["status"]) == {"delivered"} and deliveries.height == 12
    assert hook.duplicates() == {} and len(hook.accepted) == 12


# A run started from the command line (`ai-assets demo`, `dagster job execute`): no code server
# watches its process. Its max runtime is shortened by the documented per-run tag, so the test
# need not wait for the shipped default.
CLI_RUN = f"""
import dagster as dg
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions

defs = build_definitions(load_settings())
with dg.DagsterInstance.get() as instance:
    defs.resolve_job_def("outbox_retry_job").execute_in_process(
        instance=instance, partition_key="{DAY.isoformat()}", tags={{"dagster/max_runtime": "5"}}
    )
"""
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def _wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout_s} s for {what}"
        time.sleep(1)


def test_a_killed_run_is_marked_failed_and_runs_of_its_day_wait_for_each_other(tmp_path, monkeypatch):
    with WebhookReceiver(mode="hang") as hung:
        settings = _settings(monkeypatch, tmp_path)  # the daemon's runs deliver to the JSONL file
        _write_outbox(settings, day_actions(10))
        home = ensure_dagster_home(settings.dagster_home)  # the shipped instance config
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        bin_dir = Path(sys.executable).parent
        log = (tmp_path / "daemon.log").open("w")
        daemon = start_group(
            [str(bin_dir / "dagster-daemon"), "run", "-m", "ai_assets.definitions"], stdout=log, stderr=log
        )
        try:
            stuck_env = {
                **os.environ,
                "AI_ASSETS_OUTBOX_WEBHOOK_URL": hung.url,
                "AI_ASSETS_OUTBOX_TIMEOUT_S": "600",
                "AI_ASSETS_OUTBOX_DEADLINE_S": "20",
            }
            cli = subprocess.Popen([sys.executable, "-c", CLI_RUN], env=stuck_env, stderr=subprocess.DEVNULL)
            _wait_until(lambda: hung.received, 120, "the command-line run to reach the webhook")
            cli.send_signal(signal.SIGKILL)
            cli.wait()
            with dg.DagsterInstance.get() as instance:
                [killed] = instance.get_runs()
                assert killed.status == dg.DagsterRunStatus.STARTED  # nobody left to say otherwise
                # Two runs of the same day through the queue, e.g. a rerun and a scheduled run.
                for _ in range(2):
                    launch = subprocess.run(
                        [str(bin_dir / "dagster"), "job", "launch", "-m", "ai_assets.definitions"]
                        + ["-j", "outbox_retry_job", "--tags", json.dumps({"dagster/partition": DAY.isoformat()})],
                        capture_output=True,
                        text=True,
                    )
                    assert launch.returncode == 0, launch.stderr[-3000:]
                _wait_until(
                    lambda: (
                        instance.get_run_by_id(killed.run_id).is_finished
                        and not instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
                    ),
                    300,
                    "run monitoring to mark the killed run failed and the queued runs to finish",
                )
                killed_record = instance.get_run_record_by_id(killed.run_id)
                others = sorted(
                    (r for r in instance.get_run_records() if r.dagster_run.run_id != killed.run_id),
                    key=lambda r: r.start_time,
                )
        finally:
            stop_group(daemon)

    assert killed_record.dagster_run.status == dg.DagsterRunStatus.FAILURE, (tmp_path / "daemon.log").read_text()[
        -3000:
    ]
    assert len(others) >= 2 and {r.dagster_run.status for r in others} == {dg.DagsterRunStatus.SUCCESS}
    # The dead run held its day's slot until it was marked failed; then the day's runs went one at a time.
    assert others[0].start_time >= killed_record.end_time
    assert all(later.start_time >= earlier.end_time for earlier, later in zip(others, others[1:], strict=False))
    ids = [json.loads(line)["action_id"] for line in Path(settings.outbox.jsonl_path).read_text().splitlines()]
    assert len(ids) == len(set(ids)) and len(hung.received) == 1


def test_the_shipped_instance_config_monitors_runs_and_runs_a_day_one_run_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # restored afterwards
    home = ensure_dagster_home(tmp_path / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        assert str(home) in str(instance.root_directory)
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 6 * 3600
        assert instance.run_monitoring_max_resume_run_attempts == 0  # the default run launcher cannot resume
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == [{"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def test_an_instance_config_written_by_ai_assets_is_brought_up_to_date_and_a_users_own_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    # What an earlier ai_assets wrote: no run monitoring, no limit per day.
    (ours / "dagster.yaml").write_text(
        '# Written by ai_assets (see README, "Orchestration").\ntelemetry:\n  enabled: false\n'
    )
    (theirs / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")

    ensure_dagster_home(ours)
    ensure_dagster_home(theirs)
    assert (ours / "dagster.yaml").read_text() == DAGSTER_YAML
    assert (theirs / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"
    assert sorted(p.name for p in ours.iterdir()) == ["dagster.yaml"]  # no temporary file left behind
