"""The tables in DuckLake: readers never block writers (a read-only session stays open while days
are written, by the pipeline and by parallel processes, and sees each new day on its next query), a
table and its sibling change in one snapshot whatever kills the writer, past snapshots answer
queries, and an earlier version's warehouse is converted without losing a row."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import date

import boto3
import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from ai_assets.automation.instance import ensure_dagster_home
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.quality.tables import TABLES
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets.transform.llm_step import LLM_POOL
from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.migration import backup_path, migrate_legacy
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets_tests.conftest import DAY_1, DAY_2, configure_env, local_warehouse, read_table
from ai_assets_tests.fakes.llm_server import FakeLLMServer

WRITES = Table(
    "writes",
    "One row per write.",
    {"created_date": pa.Column(pl.Date), "round": pa.Column(pl.Int64)},
    key=(),
    partitioned=True,
    notes={"created_date": "the day written", "round": "the write's number"},
)

_WRITER = """
import sys
from datetime import date
from pathlib import Path
import polars as pl
from ai_assets_tests.conftest import local_warehouse
from ai_assets_tests.warehouse.test_lake import WRITES
warehouse = local_warehouse(Path(sys.argv[1]), [WRITES])
day = date(2026, 11, int(sys.argv[2]))
for i in range(15):
    warehouse.write({WRITES: pl.DataFrame({"created_date": [day] * 50, "round": [i] * 50})}, [day])
"""

# An analyst's DuckDB session in another process: the lake attached read-only with the statement
# `ai-assets demo` prints (ducklake and sqlite loaded from the wheels: no network here), kept open,
# answering one query per line of stdin.
_ANALYST = """
import sys
import duckdb
from ai_assets.warehouse.lake import extension_file
conn = duckdb.connect()
for name in ("ducklake", "sqlite_scanner"):
    conn.execute(f"LOAD '{extension_file(name)}'")
for statement in sys.argv[1].split("; ")[2:]:
    conn.execute(statement)
for line in sys.stdin:
    print(conn.execute(line).fetchall(), flush=True)
"""


class Analyst:
    """A separate process holding the lake open read-only, as a DuckDB CLI session does."""

    def __init__(self, warehouse):
        attach = warehouse.lake.attach_hint()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ANALYST, attach], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, sql: str) -> str:
        self.process.stdin.write(sql + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_parallel_writer_processes_write_their_days_while_a_reader_holds_the_warehouse(tmp_path):
    warehouse = local_warehouse(tmp_path, [WRITES])
    analyst = Analyst(warehouse)
    try:
        assert analyst.ask("select count(*) from writes") == "[(0,)]"
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(tmp_path), str(n + 1)], stderr=subprocess.PIPE, text=True
            )
            for n in range(4)
        ]
        errors = [w.communicate()[1] for w in writers]
        assert [w.returncode for w in writers] == [0] * 4, errors
        # The same open session, its next query: every day's last write, whole.
        seen = analyst.ask("select day(created_date), count(*), max(round) from writes group by 1 order by 1")
        assert seen == str([(n + 1, 50, 14) for n in range(4)])
    finally:
        analyst.close()


def test_a_day_materialises_while_analysts_hold_the_warehouse_open(pipeline):
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)
    lake = pipeline.settings.warehouse.lake
    in_process = lake.connect(read_only=True)  # a notebook in the same process as the run
    analyst = Analyst(pipeline.settings.warehouse)  # the DuckDB CLI in another
    try:
        day_1 = pipeline.count("raw_tickets")
        assert in_process.execute("select count(*) from raw_tickets").fetchone()[0] == day_1
        assert analyst.ask("select count(*) from raw_tickets") == f"[({day_1},)]"

        pipeline.run("daily_tickets_job", DAY_2)  # asserts the run succeeded
        pipeline.run("marts_job")

        both = in_process.execute("select count(*), count(distinct created_date) from raw_tickets").fetchone()
        assert both[0] > day_1 and both[1] == 2
        assert analyst.ask("select count(distinct created_date) from ticket_triage") == "[(2,)]"
        # A mart built after the sessions opened: there on their next query.
        assert in_process.execute("select count(distinct created_date) from ticket_kpis_daily").fetchone()[0] == 2
        assert analyst.ask("select count(distinct created_date) from ticket_kpis_daily") == "[(2,)]"
    finally:
        in_process.close()
        analyst.close()


def _single_file_warehouse(folder) -> None:
    """What the single-file version left: tables inside warehouse.duckdb, with old columns."""
    with duckdb.connect(str(folder / "warehouse.duckdb")) as conn:
        conn.execute(
            "create table raw_tickets as select 'T-' || range as ticket_id, date '2026-11-01' + (range % 3)::int"
            " as created_date, 'help' as body from range(7)"
        )
        conn.execute("create table customers_quarantine (source_line bigint, customer_id varchar, reason varchar)")
        conn.execute("insert into customers_quarantine values (2, 'C-1', 'bad tier')")
        conn.execute("create table ticket_kpis_daily as select 1 as n")  # a mart: rebuilt by dbt, not copied


def _parquet_warehouse(folder) -> None:
    """What the Parquet version left: a day per file under tables/, and warehouse.duckdb of views."""
    tables = folder / "tables"
    for day in range(3):
        part = tables / "raw_tickets" / f"created_date=2026-11-0{day + 1}"
        part.mkdir(parents=True)
        pl.DataFrame({"ticket_id": [f"T-{n}" for n in range(7) if n % 3 == day], "body": "help"}).write_parquet(
            part / "part.parquet"
        )
    (tables / "customers_quarantine").mkdir(parents=True)
    pl.DataFrame({"source_line": [2], "customer_id": ["C-1"], "reason": ["bad tier"]}).write_parquet(
        tables / "customers_quarantine" / "data.parquet"
    )
    with duckdb.connect(str(folder / "warehouse.duckdb")) as conn:
        conn.execute(
            f"create view raw_tickets as select * from read_parquet('{tables}/raw_tickets/*/*.parquet',"
            " hive_partitioning=true, hive_types={'created_date': DATE})"
        )
        conn.execute(f"create view customers_quarantine as select * from '{tables}/customers_quarantine/data.parquet'")
    (folder / "warehouse.duckdb.views.json").write_text("{}")


@pytest.mark.parametrize("earlier", [_single_file_warehouse, _parquet_warehouse])
def test_a_warehouse_of_an_earlier_version_is_converted_without_losing_a_row(tmp_path, earlier):
    from ai_assets.defs.landing.tables import RAW_TICKETS
    from ai_assets.defs.reference.tables import CUSTOMERS_QUARANTINE

    earlier(tmp_path)
    warehouse = local_warehouse(tmp_path)

    assert backup_path(tmp_path / "warehouse.duckdb").exists() and not (tmp_path / "warehouse.duckdb").exists()
    tickets = read_table(warehouse, RAW_TICKETS).sort("ticket_id")
    assert tickets["ticket_id"].to_list() == [f"T-{n}" for n in range(7)]
    assert tickets["created_date"].value_counts().height == 3 and tickets["channel"].null_count() == 7
    quarantine = read_table(warehouse, CUSTOMERS_QUARANTINE)
    assert quarantine.select("source_line", "customer_id", "source_file").rows() == [(2, "C-1", None)]
    warehouse.prepare()  # a second start converts nothing twice
    assert read_table(warehouse, RAW_TICKETS).height == 7


WRITES_FAILURES = Table(
    "writes_failures",
    "One row per write's failure (the sibling).",
    WRITES.columns,
    key=(),
    partitioned=True,
    notes=WRITES.notes,
)

# Writes a table and its sibling together, round after round, until killed.
_PAIR_WRITER = """
import sys
from datetime import date
from pathlib import Path
import polars as pl
from ai_assets_tests.conftest import local_warehouse
from ai_assets_tests.warehouse.test_lake import WRITES, WRITES_FAILURES
warehouse = local_warehouse(Path(sys.argv[1]), [WRITES, WRITES_FAILURES])
day = date(2026, 11, 1)
for i in range(10_000):
    rows = pl.DataFrame({"created_date": [day] * 200, "round": [i] * 200})
    warehouse.write({WRITES: rows, WRITES_FAILURES: rows.head(100 + i % 100)}, [day])
    print(i, flush=True)
"""


def test_a_writer_killed_at_any_point_never_leaves_a_table_and_its_sibling_out_of_step(tmp_path):
    randomly = random.Random(7)
    rounds_seen = []
    for attempt in range(20):
        writer = subprocess.Popen(
            [sys.executable, "-c", _PAIR_WRITER, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert writer.stdout.readline(), writer.communicate()[1]  # its first round is in: kill it any time now
        time.sleep(randomly.uniform(0, 0.4))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        warehouse = local_warehouse(tmp_path, [WRITES, WRITES_FAILURES])
        with warehouse.get_connection() as conn:
            table = conn.execute("select count(*), min(round), max(round) from writes").fetchone()
            sibling = conn.execute("select count(*), min(round), max(round) from writes_failures").fetchone()
        round_ = table[1]
        assert table == (200, round_, round_), f"attempt {attempt}: {table}"
        assert sibling == (100 + round_ % 100, round_, round_), f"attempt {attempt}: {table} but {sibling}"
        rounds_seen.append(round_)
    assert len(set(rounds_seen)) > 5  # killed at many different points


# A "machine": its own local folder (no catalog file, no locks there), the data files in a shared root.
_MACHINE_WRITER = """
import sys
from datetime import date
from pathlib import Path
import polars as pl
from ai_assets.warehouse.catalog import prepare
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets_tests.warehouse.test_lake import WRITES, WRITES_FAILURES
local, shared, first_day = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
warehouse = WarehouseResource(catalog_path=str(local / "lake.sqlite"), storage_root=shared, lock_dir=str(local))
prepare(warehouse.lake, [WRITES, WRITES_FAILURES])
for i in range(10):
    day = date(2026, 11, first_day + i % 2)
    rows = pl.DataFrame({"created_date": [day] * 30, "round": [i] * 30})
    warehouse.write({WRITES: rows, WRITES_FAILURES: rows.head(10)}, [day])
"""


def test_machines_share_the_lake_through_its_catalog_in_postgresql(tmp_path, monkeypatch, postgres):
    url = postgres.new_database().replace("postgres:@", "postgres:catalog-password@")  # the server trusts
    monkeypatch.setenv("AI_ASSETS_STATE_URL", url)
    shared = str(tmp_path / "shared")  # the bucket both machines write to
    machines = [
        subprocess.Popen(
            [sys.executable, "-c", _MACHINE_WRITER, str(tmp_path / name), shared, str(first_day)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, first_day in (("one", 1), ("two", 3))
    ]
    errors = [machine.communicate(timeout=300)[1] for machine in machines]
    assert [machine.returncode for machine in machines] == [0, 0], errors
    readers = [
        WarehouseResource(
            catalog_path=str(tmp_path / name / "lake.sqlite"), storage_root=shared, lock_dir=str(tmp_path)
        )
        for name in ("one", "two")
    ]
    days = [
        warehouse.query(
            "select day(created_date) as day, count(*) as n, max(round) as r from writes group by 1 order by 1"
        )
        for warehouse in readers
    ]
    assert days[0].rows() == [(1, 30, 8), (2, 30, 9), (3, 30, 8), (4, 30, 9)] and days[0].equals(days[1])
    assert not list(tmp_path.rglob("lake.sqlite"))  # no local catalog anywhere
    # The catalog's password is in neither a session's attached paths nor its settings.
    seen = readers[0].query("select path from duckdb_databases() union all select value from duckdb_settings()")
    assert "catalog-password" not in str(seen.rows())


def test_the_pipeline_and_dbt_build_on_a_catalog_in_postgresql(tmp_path, monkeypatch, llm_server, postgres):
    monkeypatch.setenv("AI_ASSETS_STATE_URL", postgres.new_database().replace("postgres:@", "postgres:pg-password@"))
    settings = configure_env(monkeypatch, tmp_path / "data", llm_server)
    generate_sample_data(settings.data_dir, days=1, tickets_per_day=10, golden_size=20, handwritten=False)
    # A reviewer's decision before any run: the sensor waits for the ticket (a fresh catalog has no table).
    tickets = settings.landing_dir / "tickets" / DAY_1 / "tickets-a.jsonl"
    ticket_id = next(
        t["ticket_id"]
        for t in map(json.loads, tickets.read_text().splitlines())
        if t.get("subject") and str(t["ticket_id"]).startswith("T-")
    )
    (settings.landing_dir / "reviews").mkdir()
    (settings.landing_dir / "reviews" / "early.jsonl").write_text(
        json.dumps({"ticket_id": ticket_id, "decision": "reject", "reviewer": "ana"})
    )
    defs = build_definitions(settings)
    reviews_sensor = defs.resolve_sensor_def("reviews_sensor")
    tick = dg.build_sensor_context()
    assert list(reviews_sensor(tick) or []) == []  # no catalog yet: the decision waits
    assert not settings.warehouse.lake.has_table("raw_tickets")  # asked without creating the lake
    with dg.DagsterInstance.ephemeral() as instance:
        for job, partition in (("reference_data_job", None), ("daily_tickets_job", DAY_1), ("marts_job", None)):
            assert defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition).success
            ticked = list(reviews_sensor(tick := dg.build_sensor_context(cursor=tick.cursor)) or [])
            # The tables exist from the first run on, the ticket from the day's: then its day runs, once.
            assert [r.partition_key for r in ticked] == ([DAY_1] if job == "daily_tickets_job" else []), job
    warehouse = settings.warehouse
    assert warehouse.query("select count(*) from ticket_kpis_daily").item() > 0
    assert warehouse.query("select count(distinct created_date) from raw_tickets").item() == 1
    assert not (settings.data_dir / "lake.sqlite").exists()
    written = [
        p.read_text(errors="replace") for p in settings.data_dir.rglob("*") if p.is_file() and p.stat().st_size < 10**7
    ]
    assert not [text for text in written if "pg-password" in text]  # dbt's profile and logs included


def test_a_second_machine_never_copies_its_old_warehouse_over_a_lake_with_rows(tmp_path):
    from ai_assets.defs.landing.tables import RAW_TICKETS

    for machine in ("first", "second"):
        (tmp_path / machine).mkdir()
        _single_file_warehouse(tmp_path / machine)
    first = local_warehouse(tmp_path / "first")  # the same old rows, on another machine
    with duckdb.connect(str(tmp_path / "second" / "warehouse.duckdb")) as conn:
        conn.execute("delete from raw_tickets where ticket_id = 'T-0'")
    lake = first.lake
    migrate_legacy(tmp_path / "second" / "warehouse.duckdb", lake, TABLES)  # a shared catalog: the same lake
    assert read_table(first, RAW_TICKETS).height == 7  # the first machine's rows, not the second's six
    assert backup_path(tmp_path / "second" / "warehouse.duckdb").exists()


def test_a_catalog_password_is_kept_out_of_the_attached_path(monkeypatch):
    from ai_assets.warehouse.lake import Lake

    monkeypatch.setenv("AI_ASSETS_STATE_URL", "postgresql://ops@/lake?host=/run/my pg&password=s3cr'et")
    lake = Lake("unused", "/tmp/x", "/tmp/x")
    assert lake.catalog_password() == "s3cr'et"
    assert "s3cr" not in lake.attach_path()
    assert lake.attach_path() == "ducklake:postgres:host='/run/my pg' dbname='lake' user='ops'"


def test_a_contract_that_gains_a_column_shows_it_null_in_days_written_before(tmp_path):
    warehouse = local_warehouse(tmp_path, [WRITES])
    warehouse.write({WRITES: pl.DataFrame({"created_date": [date(2026, 11, 1)], "round": [1]})}, [date(2026, 11, 1)])
    grown = Table(
        "writes",
        WRITES.description,
        {**WRITES.columns, "note": pa.Column(pl.Utf8, nullable=True)},
        key=(),
        partitioned=True,
        notes={**WRITES.notes, "note": "a column added later"},
    )
    warehouse = local_warehouse(tmp_path, [grown])
    assert read_table(warehouse, grown).rows() == [(date(2026, 11, 1), 1, None)]


def test_the_storage_lives_where_the_setting_says(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_ASSETS_STORAGE_ROOT", str(tmp_path / "lake"))
    assert load_settings().warehouse.storage_root == str(tmp_path / "lake")
    monkeypatch.setenv("AI_ASSETS_STORAGE_ROOT", "nosuch://bucket/x")
    try:
        load_settings()
    except Exception as error:  # noqa: BLE001 - the message is what matters
        assert "unknown storage protocol 'nosuch'" in str(error)
    else:
        raise AssertionError("an unknown protocol was accepted")


def test_a_remote_root_holds_the_days_and_the_marts_and_answers_queries(tmp_path, monkeypatch, llm_server, s3_server):
    settings = configure_env(monkeypatch, tmp_path / "data", llm_server)
    monkeypatch.setenv("AI_ASSETS_STORAGE_ROOT", "s3://lake/warehouse")
    monkeypatch.setenv("AI_ASSETS_STORAGE_ENDPOINT_URL", s3_server)
    settings = load_settings()
    generate_sample_data(settings.data_dir, days=2, tickets_per_day=10, golden_size=20, handwritten=False)
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        for job, partition in (
            ("reference_data_job", None),
            ("daily_tickets_job", DAY_1),
            ("daily_tickets_job", DAY_2),
        ):
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition)
            assert result.success
        assert defs.resolve_job_def("marts_job").execute_in_process(instance=instance).success
        rerun = defs.resolve_job_def("daily_tickets_job").execute_in_process(instance=instance, partition_key=DAY_1)
        assert rerun.success

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="warehouse/main/")["Contents"]]
    assert {key.split("/")[2] for key in keys} >= {"raw_tickets", "ticket_triage"}  # small writes: in the catalog
    assert not (settings.data_dir / "lake").exists()  # nothing of the tables on local disk
    warehouse = settings.warehouse
    raw = warehouse.query("select created_date::varchar as day, count(*) as n from raw_tickets group by 1 order by 1")
    outcomes = warehouse.query(
        "select created_date::varchar as day, count(*) as n from (select created_date from ticket_triage"
        " union all select created_date from ticket_triage_failures) group by 1 order by 1"
    )
    assert raw["day"].to_list() == [DAY_1, DAY_2] and raw.equals(outcomes)  # the rerun doubled nothing
    assert warehouse.query("select count(distinct created_date) from ticket_kpis_daily").item() == 2


_DAY_RUN = """
import sys
import dagster as dg
from ai_assets.automation.instance import ensure_dagster_home
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
defs = build_definitions(load_settings())
with dg.DagsterInstance.get() as instance:
    result = defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=instance, partition_key=sys.argv[1], raise_on_error=False
    )
print(result.run_id)
sys.exit(0 if result.success else 1)
"""
CONSERVATION = ("every_ticket_triaged_once", "every_ticket_has_one_reply", "every_ticket_has_one_outcome")


def test_three_days_in_parallel_processes_overlap_and_keep_every_ticket(tmp_path, monkeypatch):
    days = ["2026-11-01", "2026-11-02", "2026-11-03"]
    # One chat request in flight per process, and the first three held until all three are: the three
    # runs are in flight together however unevenly the machine starts them. The LLM pool lets three
    # steps in at once for that (its default is two), and the client waits out the hold rather than
    # retrying a held request alongside itself.
    with FakeLLMServer(model_name="fake-model", latency=0.1, rendezvous=3, rendezvous_timeout_s=300) as server:
        settings = configure_env(monkeypatch, tmp_path / "data", server)
        generate_sample_data(settings.data_dir, days=3, tickets_per_day=15, golden_size=20, handwritten=False)
        monkeypatch.setenv("DAGSTER_HOME", str(ensure_dagster_home(settings.dagster_home)))
        monkeypatch.setenv("AI_ASSETS_LLM_CONCURRENCY", "1")
        monkeypatch.setenv("AI_ASSETS_LLM_TIMEOUT_S", "600")
        with dg.DagsterInstance.get() as instance:
            instance.event_log_storage.set_concurrency_slots(LLM_POOL, 3)
            build_definitions(load_settings()).resolve_job_def("reference_data_job").execute_in_process(
                instance=instance
            )
        analyst = Analyst(settings.warehouse)  # open the whole time
        try:
            runs = [
                subprocess.Popen([sys.executable, "-c", _DAY_RUN, day], stdout=subprocess.PIPE, text=True)
                for day in days
            ]
            run_ids = [run.communicate(timeout=600)[0].strip().splitlines()[-1] for run in runs]
            assert [run.returncode for run in runs] == [0, 0, 0]
            assert server.rendezvous_reached
            assert analyst.ask("select count(distinct created_date) from ticket_outcomes") == "[(3,)]"
        finally:
            analyst.close()

    with dg.DagsterInstance.get() as instance:
        windows, checks, messages = [], {}, []
        for run_id, day in zip(run_ids, days):
            events = instance.all_logs(run_id)
            stats = instance.get_run_stats(run_id)
            windows.append((stats.start_time, stats.end_time))
            messages += [e.user_message for e in events]
            for event in events:
                if event.dagster_event and event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION":
                    evaluation = event.dagster_event.event_specific_data
                    if evaluation.check_name in CONSERVATION:
                        scope = evaluation.metadata["partitions"].value
                        checks[(day, evaluation.check_name)] = (evaluation.passed, scope)
    assert checks == {(day, name): (True, day) for day in days for name in CONSERVATION}
    # The three runs were in flight at the same time (the rendezvous was met inside each run): none
    # queued behind another's writes.
    assert max(start for start, _ in windows) < min(end for _, end in windows)
    # No storage error anywhere (the llm_provider pool may hold a step back: that is the LLM's limit, by design).
    assert not [m for m in messages if re.search(r"lock on file|conflicting lock|database is locked|conflict", m, re.I)]


def test_a_remote_root_takes_its_credentials_from_an_aws_profile(tmp_path, monkeypatch, llm_server, s3_server):
    """No AWS_* keys: boto's chain finds the profile's, the lake and dbt's build sign with them
    (the S3 server enforces IAM here), and neither file nor table of the data directory holds them."""
    from moto.core.authorization import enable_iam_authentication

    iam = boto3.client("iam", endpoint_url=s3_server, region_name="us-east-1")
    iam.create_user(UserName="pipeline")
    policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
    iam.put_user_policy(UserName="pipeline", PolicyName="lake", PolicyDocument=policy)
    key = iam.create_access_key(UserName="pipeline")["AccessKey"]
    credentials = tmp_path / "aws_credentials"
    credentials.write_text(
        f"[pipeline]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n"
        "[stranger]\naws_access_key_id = AKIASTRANGER00000000\naws_secret_access_key = not-a-key\n"
    )
    configure_env(monkeypatch, tmp_path / "data", llm_server)
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AI_ASSETS_STORAGE_ROOT", "s3://lake/warehouse")
    monkeypatch.setenv("AI_ASSETS_STORAGE_ENDPOINT_URL", s3_server)
    settings = load_settings()
    generate_sample_data(settings.data_dir, days=1, tickets_per_day=10, golden_size=20, handwritten=False)
    defs = build_definitions(settings)
    with enable_iam_authentication():
        monkeypatch.setenv("AWS_PROFILE", "stranger")  # a key the store does not know: refused
        with pytest.raises(Exception, match="403|Forbidden|Access Denied|InvalidAccessKeyId"):
            settings.warehouse.lake.connect().execute("COPY (SELECT 1 AS x) TO 's3://lake/probe.parquet'")
        monkeypatch.setenv("AWS_PROFILE", "pipeline")
        with dg.DagsterInstance.ephemeral() as instance:
            for job, partition in (("reference_data_job", None), ("daily_tickets_job", DAY_1), ("marts_job", None)):
                result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition)
                assert result.success, job
        assert settings.warehouse.query("select count(distinct created_date) from ticket_kpis_daily").item() == 1
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert key["SecretAccessKey"].encode() not in path.read_bytes(), path
