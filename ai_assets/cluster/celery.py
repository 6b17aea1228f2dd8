"""Steps on Celery workers (`AI_ASSETS_EXECUTOR=celery`, the `celery` extra): Dagster's own
`dagster-celery` executor, and the app our workers run.

The broker and the result store are URLs read from the environment at each use (they may hold a
password): `AI_ASSETS_CELERY_BROKER_URL` (e.g. `sqla+postgresql+psycopg2://...`: kombu's SQLAlchemy
transport keeps the queue in PostgreSQL, so a cluster needs no Redis or RabbitMQ; or `redis://...`)
and `AI_ASSETS_CELERY_BACKEND_URL` (e.g. `db+postgresql+psycopg2://...`). The marts build on the
queue `marts`, every other step on `dagster`: give the marts one worker (`ai-assets worker --queue
marts`), which also keeps dbt's artifacts on one machine.
"""

from __future__ import annotations

import os
import sys
import time

import dagster as dg

BROKER_VARIABLE = "AI_ASSETS_CELERY_BROKER_URL"
BACKEND_VARIABLE = "AI_ASSETS_CELERY_BACKEND_URL"
STEPS_QUEUE = "dagster"  # dagster-celery's default queue
MARTS_QUEUE = "marts"
QUEUE_TAG = "dagster-celery/queue"


def celery_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor, its broker and result store named by variable (the run's config
    then holds the variables' names, never the URLs)."""
    try:
        from dagster_celery import celery_executor as executor
    except ImportError as missing:
        raise RuntimeError("AI_ASSETS_EXECUTOR=celery needs the celery extra: pip install -e '.[celery]'") from missing
    return executor.configured(
        {
            "broker": {"env": BROKER_VARIABLE},
            "backend": {"env": BACKEND_VARIABLE},
            # A step's prints reach Dagster's compute logs, not the worker's own log.
            "config_source": {"worker_redirect_stdouts": False},
        }
    )


def worker_command(queues: list[str], concurrency: int, name: str) -> list[str]:
    """The Celery worker that runs steps of `queues`: one step per slot, none prefetched (a step
    runs minutes; another worker should take the next one)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "ai_assets.cluster.worker_app",
        "worker",
        "-Q",
        ",".join(queues),
        "-n",
        f"{name}@%h",
        f"--concurrency={concurrency}",
        "--prefetch-multiplier=1",
        "--loglevel=INFO",
    ]


def declare_queues(broker_url: str, attempts: int = 5) -> None:
    """Creates the queues' rows (kombu's SQLAlchemy transport inserts one on a queue's first use:
    two workers starting at once collide on it, and the loser dies with "duplicate key value")."""
    from kombu import Connection

    for attempt in range(attempts):
        try:
            with Connection(broker_url) as connection:
                for queue in (STEPS_QUEUE, MARTS_QUEUE):
                    connection.default_channel.queue_declare(queue)
            return
        except Exception:  # noqa: BLE001 - the other worker's insert won: its row is there now
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def broker_settings() -> dict[str, str]:
    """The broker and result store, for a worker's app; a clear error when either is unset."""
    missing = [name for name in (BROKER_VARIABLE, BACKEND_VARIABLE) if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"a Celery worker needs {' and '.join(missing)} (see docs/operations.md, Celery workers)")
    return {"broker_url": os.environ[BROKER_VARIABLE], "result_backend": os.environ[BACKEND_VARIABLE]}
