"""Each test gets its own data directory, sample data, a fake LLM server on loopback and definitions."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import boto3
import dagster as dg
import polars as pl
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from ai_assets.config import Settings, load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.cache import ResponseCache
from ai_assets.llm.task import PromptTemplate
from ai_assets.quality.tables import TABLES
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets.warehouse import registry
from ai_assets.warehouse.catalog import prepare
from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.migration import migrate_legacy
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read
from ai_assets_tests.fakes.llm_server import FakeLLMServer
from ai_assets_tests.fakes.loopback import free_port
from ai_assets_tests.processes import MARK, marked_processes, wait_until_gone

SESSION = uuid.uuid4().hex[:12]  # this pytest session, in the MARK of every process its tests start

DAY_1 = "2026-11-01"
DAY_2 = "2026-11-02"


@dataclass
class Pipeline:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    server: FakeLLMServer

    def run(
        self, job: str, partition: str | None = None, *, days: tuple[str, str] | None = None
    ) -> dg.ExecuteInJobResult:
        """One run of `job`: for one partition, or for the range `days` (first, last) as a backfill group runs."""
        tags = (
            {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[1]}
            if days
            else None
        )
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, partition_key=partition, tags=tags, raise_on_error=False
        )
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        return result

    def prompts(self, prompt: str) -> list[str]:
        """The user messages of the chat requests the server received for the prompt `prompt`
        (e.g. "ticket_triage"), in order."""
        system = PromptTemplate.load(prompt, self.settings.project.prompts_dir).system
        requests = self.server.requests
        return [b["messages"][-1]["content"] for b in requests if b["messages"][0]["content"].startswith(system)]

    def calls(self, prompt: str) -> int:
        """Chat requests the server received for the prompt `prompt` (e.g. "ticket_triage")."""
        return len(self.prompts(prompt))

    def sql(self, query: str) -> list[tuple]:
        with self.settings.warehouse.lake.connect(read_only=True) as conn:
            return conn.execute(query).fetchall()

    def count(self, table: str, where: str = "true") -> int:
        return self.sql(f"select count(*) from {table} where {where}")[0][0]

    def expectations(self, day: str) -> dict:
        path = self.settings.data_dir / "eval" / "landing_expectations.json"
        return json.loads(path.read_text())[day]


def local_warehouse(folder: Path, tables: Sequence[Table] = TABLES) -> WarehouseResource:
    """A warehouse (a lake: catalog and Parquet files) in `folder`, with `tables`, outside Dagster;
    an earlier version's warehouse.duckdb there converted."""
    warehouse = WarehouseResource(
        catalog_path=str(folder / "lake.sqlite"),
        storage_root=str(folder / "lake"),
        lock_dir=str(folder / "locks"),
        legacy_path=str(folder / "warehouse.duckdb"),
    )
    prepare(warehouse.lake, tables)
    if (folder / "warehouse.duckdb").exists():
        migrate_legacy(folder / "warehouse.duckdb", warehouse.lake, tables)
    return warehouse


def read_table(warehouse: WarehouseResource, table: Table, days: Sequence[date] | None = None) -> pl.DataFrame:
    with warehouse.get_connection() as conn:
        return read(conn, table, days)


@pytest.fixture
def cache(tmp_path):
    """A fresh response cache for engine tests."""
    cache = ResponseCache(tmp_path / "cache.sqlite")
    yield cache
    cache.close()


@pytest.fixture
def llm_server():
    with FakeLLMServer(model_name="fake-model") as server:
        yield server


@pytest.fixture
def s3_server(monkeypatch):
    """A real S3-compatible server (moto) on loopback, with one bucket, and credentials for it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="lake")
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL, started once per session (ai_assets_tests/postgres.py)."""
    from ai_assets_tests.postgres import running_postgres

    yield from running_postgres(tmp_path_factory.mktemp("postgres") / "data")


@pytest.fixture
def sandbox(monkeypatch):
    """A defs folder as `dg` loads one, for components declared by a test (ai_assets_tests/declared.py)."""
    # The tables these tests declare stay theirs: no later test's warehouse prepares them.
    monkeypatch.setattr(registry, "_DECLARED", {})
    with create_defs_folder_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    """Every test starts without DAGSTER_HOME and AI_ASSETS_PARTITIONS_START: the CLI exports them,
    and a value left by an earlier test would point the settings at that test's instance and days."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("AI_ASSETS_PARTITIONS_START", raising=False)


def configure_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path, server: FakeLLMServer | None) -> Settings:
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(data_dir))
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "AI_ASSETS_CHAT_MODEL",
        "AI_ASSETS_RESPONSE_FORMAT",
        "AI_ASSETS_SMALL_LLM",
        "AI_ASSETS_SMALL_LLM_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    if server is not None:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-never-logged")
        monkeypatch.setenv("AI_ASSETS_CHAT_MODEL", "fake-model")
        monkeypatch.setenv("AI_ASSETS_LLM_MAX_RETRIES", "2")
        monkeypatch.setenv("AI_ASSETS_LLM_TIMEOUT_S", "5")
        # The fake server's bag-of-words embeddings need their own grounding threshold, chosen by
        # `benchmarks/grounding.py --embedder fake` (0.34); without one no reply would be auto-sent.
        monkeypatch.setenv("AI_ASSETS_GROUNDING_MIN_SUPPORT", "0.34")
    return load_settings()


@pytest.fixture
def pipeline(tmp_path, monkeypatch, llm_server) -> Pipeline:
    settings = configure_env(monkeypatch, tmp_path / "data", llm_server)
    generate_sample_data(settings.data_dir, days=2, tickets_per_day=30, golden_size=100, handwritten=False)
    with dg.DagsterInstance.ephemeral() as instance:
        yield Pipeline(settings, build_definitions(settings), instance, llm_server)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-m unit`: the test_units_* files (functions on frames and files, seconds in all); `-m
    pipeline`: the rest (real Dagster materialisations, servers on loopback, subprocesses)."""
    for item in items:
        item.add_marker("unit" if item.path.name.startswith("test_units_") else "pipeline")


@pytest.hookimpl(tryfirst=True)  # before the fixtures start anything
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Inherited by every process the test starts, however deep: names the test if one outlives it.
    os.environ[MARK] = f"{SESSION} {item.nodeid}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """No process a test started outlives the suite: any that does (after a short grace for ones
    still shutting down) is killed, named with its test, and fails the session."""
    left = wait_until_gone(set(marked_processes(SESSION)), timeout_s=10)
    leftovers = {pid: info for pid, info in marked_processes(SESSION).items() if pid in left}
    if not leftovers:
        return
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.section("processes left behind by tests", sep="=", red=True)
        for pid, (mark, command) in sorted(leftovers.items()):
            reporter.write_line(f"{pid} from {mark.split(' ', 1)[1]}: {command[:200]}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
