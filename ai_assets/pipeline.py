"""Run the whole pipeline in process: reference data, every day's tickets, then the marts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

JOB_ORDER = ("reference_data_job", "daily_tickets_job", "marts_job")
# The console shows what each step did (INFO), not Dagster's step-by-step engine events (DEBUG).
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass(frozen=True)
class PipelineRun:
    job: str
    partition: str | None
    success: bool
    run_id: str


def materialize_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    partition_keys: Sequence[str],
    on_run: Callable[[PipelineRun], None] | None = None,
) -> list[PipelineRun]:
    """Materialises everything in dependency order; stops at the first failed run."""
    runs = []
    for job_name in JOB_ORDER:
        job = defs.resolve_job_def(job_name)
        for partition in partition_keys if job.partitions_def else [None]:
            result = job.execute_in_process(
                run_config=CONSOLE_INFO, instance=instance, partition_key=partition, raise_on_error=False
            )
            run = PipelineRun(job_name, partition, result.success, result.run_id)
            runs.append(run)
            if on_run:
                on_run(run)
            if not result.success:
                return runs
    return runs
