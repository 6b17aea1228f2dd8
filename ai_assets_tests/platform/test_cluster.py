"""The pipeline on a cluster of "machines": two Celery workers with local data directories of their
own, sharing only PostgreSQL (the instance, the state, the lake's catalog, the queue) and an S3
server (the lake's files, the landing files), all started from packages (`ai_assets.cluster.local`, what `ai-assets
cluster up` starts). Runs are started as a user would, with `dagster job execute`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from ai_assets.automation.instance import DBT_POOL
from ai_assets.cluster.celery import MARTS_QUEUE, STEPS_QUEUE
from ai_assets.cluster.local import COMPUTE_LOGS_PREFIX, LocalCluster, Worker, local_cluster
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets.transform.llm_step import LLM_POOL
from ai_assets_tests.fakes.llm_server import FakeLLMServer
from ai_assets_tests.fakes.webhook_receiver import WebhookReceiver

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
WORKERS = (Worker("machine-a", (STEPS_QUEUE, MARTS_QUEUE)), Worker("machine-b"))
TABLES = ("raw_tickets", "ticket_triage", "ticket_triage_failures", "reply_drafts", "outbox", "outbox_deliveries")


def _run(
    cluster: LocalCluster, machine: str, job: str, day: str | None = None, **env: str
) -> subprocess.CompletedProcess:
    """`dagster job execute` on `machine`; fails at once if a worker dies (its steps would wait forever)."""
    tags = json.dumps({"dagster/partition": day} if day else {})
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "ai_assets.definitions", "-j", job]
    cluster.data_dir(machine).mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [*command, "--tags", tags],
        env={**cluster.machine_env(machine), **env},
        cwd=cluster.data_dir(machine),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while True:
        try:
            out, err = process.communicate(timeout=2)
            return subprocess.CompletedProcess(process.args, process.returncode, out, err)
        except subprocess.TimeoutExpired:
            if cluster.dead_workers() or time.monotonic() > deadline:
                process.kill()
                out, err = process.communicate()
                dead = cluster.dead_workers()
                raise AssertionError(f"{job} {day}: dead workers {dead} or timed out: {err[-2000:]}") from None


def _succeeded(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == 0 and "RUN_SUCCESS" in result.stdout + result.stderr


def _counts(cluster: LocalCluster, machine: str) -> str:
    """Rows per table and day, as `ai-assets query` on `machine` reads them."""
    sql = " union all ".join(
        f"select '{t}' as t, created_date::varchar as day, count(*) as n from {t} group by all" for t in TABLES
    )
    result = subprocess.run(
        [sys.executable, "-m", "ai_assets.cli", "query", "--format", "csv", f"{sql} order by all"],
        env=cluster.machine_env(machine),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_workers_backfill_three_days_and_rerun_one_on_both_at_once(tmp_path):
    with (
        FakeLLMServer(model_name="fake-model") as llm,
        WebhookReceiver() as hook,
        local_cluster(tmp_path / "cluster") as cluster,
    ):
        cluster.env.update(
            OPENAI_BASE_URL=llm.base_url,
            OPENAI_API_KEY="sk-cluster-test",
            AI_ASSETS_CHAT_MODEL="fake-model",
            AI_ASSETS_GROUNDING_MIN_SUPPORT="0.34",
            AI_ASSETS_PARTITIONS_START=DAYS[0],
            AI_ASSETS_OUTBOX_WEBHOOK_URL=hook.url,
        )
        # The pools' limits exist before any run: no two runs race to make one (local.initialize_pools).
        with dg.DagsterInstance.from_config(cluster.env["DAGSTER_HOME"]) as instance:
            assert {LLM_POOL, DBT_POOL} <= instance.event_log_storage.get_concurrency_keys()
        # The landing files in the bucket: no machine has any of its own (each mirrors the bucket)...
        generate_sample_data(tmp_path / "sample", days=3, tickets_per_day=10, golden_size=20, handwritten=False)
        assert cluster.land(tmp_path / "sample" / "landing") > 0
        # ... but machine C, which reads a local folder that never saw day 3.
        shutil.copytree(tmp_path / "sample", cluster.data_dir("machine-c"))
        shutil.rmtree(cluster.data_dir("machine-c") / "landing" / "tickets" / DAYS[2])
        for worker in WORKERS:
            cluster.start_worker(worker)

        reference = _run(cluster, "orchestrator", "reference_data_job")
        assert _succeeded(reference), reference.stderr[-3000:]
        with ThreadPoolExecutor(3) as pool:  # the backfill: three days at once
            backfill = list(pool.map(lambda day: _run(cluster, "orchestrator", "daily_tickets_job", day), DAYS))
        assert all(_succeeded(run) for run in backfill), [run.stderr[-3000:] for run in backfill]
        calls, deliveries = llm.call_count, len(hook.accepted)
        assert calls > 0 and deliveries > 0

        with ThreadPoolExecutor(2) as pool:  # the same day again, twice at once
            reruns = list(pool.map(lambda _: _run(cluster, "orchestrator", "daily_tickets_job", DAYS[0]), range(2)))
        assert all(_succeeded(run) for run in reruns), [run.stderr[-3000:] for run in reruns]
        marts = _run(cluster, "orchestrator", "marts_job")
        assert _succeeded(marts), marts.stderr[-3000:]

        # Both machines ran steps, and their steps' stdout/stderr are in the bucket (the UI's source).
        for worker in WORKERS:
            assert "Task execute_plan" in (cluster.root / f"worker-{worker.name}.log").read_text()
        # (Keys: compute_logs/storage/<run id>/compute_logs/<log key>.err|.out.)
        step_logs = [key for key in cluster.keys(COMPUTE_LOGS_PREFIX) if key.endswith(".err")]
        assert len({key.split("/")[2] for key in step_logs}) == 7, step_logs  # every run: 1 + 3 + 2 + marts
        assert any("ticket_triage" in cluster.read(key) for key in step_logs)
        # No action delivered twice (the receiver's count), none more after the reruns.
        assert hook.duplicates() == {} and len(hook.accepted) == deliveries
        # No LLM call repeated for an input answered before: the reruns, on both machines at once,
        # found every answer in the shared cache. (Two runs of different days may still both ask
        # for an input neither has answered yet, the same text in flight on two machines at once.)
        assert llm.call_count == calls

        # A machine without day 3's landing files fails that day loudly and loses no shared row.
        before = _counts(cluster, "machine-a")
        lost = _run(
            cluster,
            "machine-c",
            "daily_tickets_job",
            DAYS[2],
            AI_ASSETS_EXECUTOR="in_process",
            AI_ASSETS_LANDING_URL="",
        )
        assert lost.returncode != 0 and "raw_tickets not extracted" in lost.stdout + lost.stderr
        # Every table reads the same from both machines, and as before.
        assert _counts(cluster, "machine-b") == _counts(cluster, "machine-a") == before
        assert all(f"raw_tickets,{day}," in before for day in DAYS)
