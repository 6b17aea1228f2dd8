"""Run the whole pipeline as the UI would: reference data, the evaluation, every day's tickets, then the marts.

Each run is created from the workspace `ai-assets dev` serves (`workspace.yaml`) and launched by
the instance's run launcher, like a run started from the UI: it carries the code location's
origin, so it shows on the Overview timeline and the Jobs page and can be re-executed from there.
The terminal gets a line per run and per step, and the LLM steps' progress with a bar; Dagster's
own output (the code server's, each run's full log) goes to a file.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg

# The one import of Dagster's internals left, on purpose: no public API creates a run with the code
# location's origin (what the UI's timeline and "Re-execute" need) and launches it outside the run
# queue. `dagster job launch` and GraphQL's launchRun only queue it, and the queue waits for a daemon
# the demo does not run; `dagster job execute` and `dg launch` run in process without the origin.
from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

# The evaluation before the days: the triage plans its cascade from the latest one (eval_runs is
# upstream of it), and the marts' leaderboard ranks it.
JOB_ORDER = ("reference_data_job", "eval_job", "daily_tickets_job", "marts_job")
WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"
LOCATION = "ai_assets"  # workspace.yaml's location_name: the UI's name for this code location
_POLL_S = 0.5
CODE_SERVER_STOP_S = 300.0


@dataclass(frozen=True)
class PipelineRun:
    job: str
    partition: str | None
    success: bool
    run_id: str


@contextmanager
def workspace(instance: dg.DagsterInstance) -> Iterator[BaseWorkspaceRequestContext]:
    """The code location as `ai-assets dev` loads it, served by a code server for the duration."""
    try:
        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as process:
            context = process.create_request_context()
            errors = context.get_code_location_error(LOCATION)
            if errors:
                raise RuntimeError(f"the code location {LOCATION} does not load: {errors.message}")
            yield context
    except subprocess.TimeoutExpired as slow:
        # Dagster waits 30 s for the code server it asked to stop (code_servers:
        # wait_for_local_processes_on_shutdown); on a busy machine it takes longer. The runs are
        # over by then: wait for it longer rather than fail a command whose work succeeded.
        wait_for_children(slow.cmd, CODE_SERVER_STOP_S)


def wait_for_children(command: Sequence[str], timeout_s: float) -> None:
    """Reaps this process's children started with `command` (the code server Dagster gave up
    waiting for) until none is left or `timeout_s` passes; one still running then ends by itself
    once its heartbeat stops. Other children (e.g. an embedded model server) are not waited for."""
    pending = set(_children_running(list(command)))
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # already reaped
            if done:
                pending.discard(pid)
        time.sleep(_POLL_S if pending else 0)
    if pending:
        logging.getLogger(__name__).warning(f"a code server was still stopping after {timeout_s:.0f}s")


def _children_running(command: list[str]) -> list[int]:
    """The pids of this process's children whose command line is `command` (Linux's /proc; none
    found elsewhere, where the code server is left to end by itself)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().decode().split("\0")[:-1]
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if parent == os.getpid() and argv == command:
            found.append(int(entry.name))
    return found


def create_run(context: BaseWorkspaceRequestContext, instance: dg.DagsterInstance, job: str, partition: str | None):
    """A run of `job` (for `partition`) with the code location's origin, as the UI creates one."""
    location = context.get_code_location(LOCATION)
    (repository,) = location.get_repositories().values()
    remote_job = repository.get_full_job(job)
    plan = location.get_execution_plan(remote_job, {}, step_keys_to_execute=None, known_state=None, instance=instance)
    tags = {**remote_job.tags, **({"dagster/partition": partition} if partition else {})}
    return instance.create_run(
        job_name=job,
        run_id=None,
        run_config={},
        resolved_op_selection=None,
        step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags=tags,
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )


_PROGRESS = re.compile(r"(\d+)/(\d+) rows")


def progress_bar(message: str, width: int = 20) -> str:
    """`[#######-------------]` for a progress line's `done/total rows`, or "" without one."""
    found = _PROGRESS.search(message)
    if not found or not int(found.group(2)):
        return ""
    filled = round(width * int(found.group(1)) / int(found.group(2)))
    return "[" + "#" * filled + "-" * (width - filled) + "] "


LLM_TOTALS = ("llm_calls", "prompt_tokens", "completion_tokens", "cost_usd")


@dataclass
class RunConsole:
    """What one run's terminal lines depend on: the steps that materialised an asset (their end is
    shown, dbt's too, though it also evaluates its tests as checks), the warnings already shown
    (each once per run: every LLM step of a day would repeat an unset price), and each LLM step's
    calls, tokens and cost (the same on every table and day the step wrote: taken once a step)."""

    asset_steps: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)
    llm_by_step: dict[str, dict[str, float]] = field(default_factory=dict)

    def llm_summary(self) -> str:
        """`; LLM 310 calls, 41,020 tokens, $0.0123` for the run, or "" when no step asked a model."""
        totals = {key: sum(step[key] for step in self.llm_by_step.values()) for key in LLM_TOTALS}
        if not self.llm_by_step:
            return ""
        tokens = totals["prompt_tokens"] + totals["completion_tokens"]
        return f"; LLM {totals['llm_calls']:,.0f} calls, {tokens:,.0f} tokens, ${totals['cost_usd']:.4f}"


def console_line(entry: dg.EventLogEntry, console: RunConsole) -> str | None:
    """What the terminal shows of an event: each asset step's end and time, a failed step or
    check, a warning (once per run), and the LLM steps' progress with a bar. The log file has
    everything."""
    event = entry.dagster_event
    if event is None:
        message = entry.user_message
        if " rows/s, ETA " in message:
            return f"      {progress_bar(message)}{message[:160]}"
        if entry.level < logging.WARNING or message in console.warnings:
            return None
        console.warnings.add(message)
        return f"      warning: {message[:200]}"
    kind = event.event_type_value
    if kind == "ASSET_MATERIALIZATION":
        console.asset_steps.add(event.step_key)
        metadata = event.event_specific_data.materialization.metadata
        if "llm_calls" in metadata and event.step_key not in console.llm_by_step:
            console.llm_by_step[event.step_key] = {key: metadata[key].value for key in LLM_TOTALS}
    if kind == "STEP_SUCCESS" and event.step_key in console.asset_steps:
        return f"    {event.step_key:<34} done in {event.event_specific_data.duration_ms / 1000:.1f}s"
    if kind == "STEP_FAILURE":
        return f"    {event.step_key:<34} FAILED: {entry.user_message[:300]}"
    if kind == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
        check = event.event_specific_data
        return f"    check {check.check_name} failed on {check.asset_key.to_user_string()}"
    return None


def follow(instance: dg.DagsterInstance, run_id: str, console: TextIO) -> tuple[dg.DagsterRun, RunConsole]:
    """Waits for the run to end, writing its notable events to `console` as they come (each poll
    reads only the events after the last one read); returns the run and what its lines counted."""
    cursor, run_console = None, RunConsole()
    while True:
        run = instance.get_run_by_id(run_id)
        page = instance.get_records_for_run(run_id, cursor=cursor)
        for record in page.records:
            line = console_line(record.event_log_entry, run_console)
            if line:
                console.write(line + "\n")
        cursor = page.cursor
        if run.is_finished and not page.has_more:
            return run, run_console
        if not page.has_more:
            time.sleep(_POLL_S)


@contextmanager
def output_to_file(log_path: Path) -> Iterator[TextIO]:
    """Everything this process and its children (the code server, the run workers) write to stdout
    and stderr goes to `log_path`; the stream yielded writes to the terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log, os.fdopen(os.dup(saved[0]), "w", buffering=1) as terminal:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def materialize_pipeline(
    instance: dg.DagsterInstance, partition_keys: Sequence[str], partitioned_jobs: set[str], log_path: Path
) -> list[PipelineRun]:
    """Launches and follows every run in dependency order, printing a line per run and per step;
    stops at the first failed run. Dagster's own output goes to `log_path`."""
    runs = []
    with output_to_file(log_path) as terminal, workspace(instance) as context:
        for job in JOB_ORDER:
            for partition in partition_keys if job in partitioned_jobs else [None]:
                started = time.monotonic()
                created = create_run(context, instance, job, partition)
                terminal.write(f"  {job} {partition or ''} (run {created.run_id[:8]})\n")
                instance.launch_run(created.run_id, context)
                finished, counted = follow(instance, created.run_id, terminal)
                run = PipelineRun(job, partition, finished.status == dg.DagsterRunStatus.SUCCESS, created.run_id)
                status = "ok" if run.success else "FAILED"
                took = f"{time.monotonic() - started:.0f}s{counted.llm_summary()}"
                terminal.write(f"  {job} {partition or ''} {status} in {took}\n")
                runs.append(run)
                if not run.success:
                    return runs
    return runs
