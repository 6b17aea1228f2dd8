"""Two machines (two data directories) sharing only AI_ASSETS_STATE_URL, a real PostgreSQL: the
LLM, embedding and tool caches live there, so the second machine asks the model nothing the first
already paid for, and neither keeps a cache file of its own; the locks and the provider's limits
are the database's."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from ai_assets import state
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.cache import ResponseCache
from ai_assets.llm.limits import Limits
from ai_assets.llm.ratelimit import RateLimiter
from ai_assets.llm.shared_limit import SharedRateLimit
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import DAY_1, configure_env
from ai_assets_tests.engine_cases import run_engine, ticket_rows
from ai_assets_tests.fakes.llm_server import FakeLLMServer


def test_a_second_machine_asks_nothing_the_first_already_answered(tmp_path, monkeypatch, postgres):
    url = postgres.new_database()
    calls, embedded, rows = {}, {}, {}
    monkeypatch.setenv("AI_ASSETS_STORAGE_ROOT", str(tmp_path / "bucket"))  # the lake's files, shared
    with FakeLLMServer() as server:
        for machine in ("first", "second"):
            settings = configure_env(monkeypatch, tmp_path / machine, server)
            monkeypatch.setenv("AI_ASSETS_STATE_URL", url)
            generate_sample_data(settings.data_dir, days=1, tickets_per_day=10, golden_size=0, handwritten=False)
            defs = build_definitions(load_settings())
            chat, embeddings = server.call_count, len(server.embedding_requests)
            with dg.DagsterInstance.ephemeral() as instance:
                assert defs.resolve_job_def("reference_data_job").execute_in_process(instance=instance).success
                daily = defs.resolve_job_def("daily_tickets_job")
                assert daily.execute_in_process(instance=instance, partition_key=DAY_1).success
            calls[machine] = server.call_count - chat
            embedded[machine] = len(server.embedding_requests) - embeddings
            rows[machine] = settings.warehouse.query("select count(*) from ticket_triage").item()
            assert not list(settings.data_dir.glob("*cache*.sqlite")), "a cache file on a machine with shared state"
    assert calls["first"] > 0 and embedded["first"] > 0
    assert calls["second"] == 0 and embedded["second"] == 0
    assert rows["first"] == rows["second"] > 0


def test_a_lock_held_on_one_machine_makes_the_other_wait(tmp_path, monkeypatch, postgres):
    """The warehouse's read-then-write locks (history appends, a day's deliveries, dbt's build):
    PostgreSQL advisory locks with AI_ASSETS_STATE_URL, so two machines' local lock files (which
    never see each other) are not what keeps them apart."""
    monkeypatch.setenv("AI_ASSETS_STATE_URL", postgres.new_database())
    events, held = [], threading.Event()

    def machine(name: str, folder: Path, hold_s: float) -> None:
        if name == "second":
            held.wait(timeout=30)
        with state.lock("outbox_deliveries", folder):
            events.append(f"{name} locked")
            held.set()
            time.sleep(hold_s)
            events.append(f"{name} unlocked")

    first = threading.Thread(target=machine, args=("first", tmp_path / "first", 0.5))
    second = threading.Thread(target=machine, args=("second", tmp_path / "second", 0))
    for thread in (first, second):
        thread.start()
    for thread in (first, second):
        thread.join(timeout=60)
    assert events == ["first locked", "first unlocked", "second locked", "second unlocked"]
    assert not list(tmp_path.rglob("*.lock"))  # no local lock file: the lock is the database's


def test_two_workers_share_the_providers_concurrency_limit(tmp_path, monkeypatch, postgres):
    """Each worker may have 2 requests in flight (AI_ASSETS_LLM_CONCURRENCY); with the state URL the
    provider sees at most 2 from both together, not 4, and every row is answered."""
    monkeypatch.setenv("AI_ASSETS_STATE_URL", postgres.new_database())
    results = {}
    with FakeLLMServer(latency=0.05) as server:

        def worker(name: str) -> None:
            cache = ResponseCache(tmp_path / f"{name}.sqlite")  # its own cache: every row is a call
            rows = ticket_rows(12, body=f"Worker {name} was charged twice")
            results[name] = run_engine(server, cache, rows, limits=Limits(concurrency=2))

        workers = [threading.Thread(target=worker, args=(name,)) for name in ("first", "second")]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=120)
        peak = server.peak_concurrency
    assert [results[name].outputs.height for name in ("first", "second")] == [12, 12]
    assert peak == 2  # both workers' slots came from one pool of 2


def test_a_worker_waits_for_a_slot_another_worker_holds(postgres):
    url = postgres.new_database()
    first = SharedRateLimit(url, "endpoint model", 1, None, None)
    second = SharedRateLimit(url, "endpoint model", 1, None, None)
    slot = first.acquire(100)
    taken = []
    waiting = threading.Thread(target=lambda: taken.append(second.acquire(100)))
    waiting.start()
    time.sleep(0.5)
    assert taken == []  # the one slot is the first worker's
    first.release(slot)
    waiting.join(timeout=10)
    assert len(taken) == 1
    second.release(taken[0])
    for limit in (first, second):
        limit.close()


def test_a_request_cancelled_while_it_waits_for_a_shared_slot_leaves_none_taken(postgres):
    """A run stopped while its requests wait for the cluster's slots: none of them ends up holding
    one (for the slot's whole lease) and the local count goes back down."""
    url = postgres.new_database()
    holder = SharedRateLimit(url, "pool", 1, None, None)
    held = holder.acquire(1)

    async def stopped_run() -> int:
        limiter = RateLimiter(1, shared=SharedRateLimit(url, "pool", 1, None, None))
        waiting = asyncio.create_task(limiter.acquire(1))
        await asyncio.sleep(0.3)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        holder.release(held)  # the slot frees up while the cancelled wait may still be polling
        await asyncio.sleep(0.3)
        await limiter.aclose()
        return limiter.in_flight

    assert asyncio.run(stopped_run()) == 0
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM llm_slots")
        assert cursor.fetchone()[0] == 0
    conn.close()
    holder.close()
