"""What the engine tests share: the triage task as the default settings make it, a frame of
tickets, and a run of the engine against a fake server."""

from __future__ import annotations

import polars as pl

from ai_assets.defs.triage.tasks import triage_task
from ai_assets.llm.client import Endpoint
from ai_assets.llm.engine import run_task

# The triage task as the default settings make it, whatever the environment of the test run says.
TRIAGE_TASK = triage_task()


def ticket_rows(n: int, body: str = "I was charged twice for ORD-1234, please refund me") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticket_id": [f"T-{i:03d}" for i in range(n)],
            "channel": ["email"] * n,
            "subject": [f"Problem number {i}" for i in range(n)],
            "body": [f"{body} (ticket {i})" for i in range(n)],
            "examples": [""] * n,  # the cascade's few-shot block: none
        }
    )


def run_engine(server, cache, rows, task=TRIAGE_TASK, **kwargs):
    endpoint = Endpoint(
        base_url=server.base_url,
        model=kwargs.pop("model", "fake-model"),
        timeout_s=kwargs.pop("timeout_s", 5),
        max_retries=kwargs.pop("max_retries", 2),
        response_format=kwargs.pop("response_format", "auto"),
    )
    return run_task(task, rows, endpoint=endpoint, cache=cache, id_column="ticket_id", **kwargs)
