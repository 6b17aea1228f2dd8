"""Run an LLM task over a polars frame: cache, dedupe, batching, limits, budget, validation.

Every input row comes back exactly once: in `outputs` (validated answer plus lineage columns)
or in `failures` (error type, reason, raw answer), never both and never dropped.

The path of a row: cached answers are served in bulk without any request; identical inputs are
sent once; the rest go out one per request, or several per request when the task allows
batching. A schema-invalid answer gets one reask that shows the model its error; rows missing or
invalid in a batch answer are retried alone. Every validated answer is cached as it arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import BaseModel, ValidationError

from ai_assets.llm.batching import batch_messages, batch_schema, split_batch_answer
from ai_assets.llm.budget import Budget
from ai_assets.llm.cache import CachedResponse, CacheKeys, ResponseCache
from ai_assets.llm.client import Completion, ContextOverflow, Endpoint, ProviderError, SendingStopped, StructuredClient
from ai_assets.llm.cost import Pricing
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.ratelimit import RateLimiter
from ai_assets.llm.task import LLMTask

ProgressCallback = Callable[[int, StepMetrics], None]

LINEAGE_SCHEMA = {
    "model": pl.Utf8,
    "prompt_version": pl.Utf8,
    "input_hash": pl.Utf8,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "cost_usd": pl.Float64,
    "cache_hit": pl.Boolean,
    "latency_ms": pl.Float64,
    "input_truncated": pl.Boolean,
}
FAILURE_SCHEMA = {
    "error_type": pl.Utf8,  # provider_error | invalid_output | budget_exceeded
    "reason": pl.Utf8,
    "raw_output": pl.Utf8,
    "model": pl.Utf8,
    "prompt_version": pl.Utf8,
    "input_hash": pl.Utf8,
    "input_truncated": pl.Boolean,
}
_RAW_OUTPUT_KEEP = 2000
REASK = (
    "Your answer is invalid: {reason}. Reply again with only the corrected JSON object, "
    "matching the schema exactly."
)


@dataclass(frozen=True)
class Limits:
    """How hard the engine may push the endpoint, and how much a run may spend."""

    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_tokens_per_run: int | None = None
    max_cost_per_run_usd: float | None = None


@dataclass(frozen=True)
class TaskResult:
    outputs: pl.DataFrame
    failures: pl.DataFrame
    metrics: StepMetrics


@dataclass(frozen=True)
class _Input:
    """One distinct input: every row whose prompt is identical shares it (and its one call)."""

    key: str
    messages: list[dict[str, str]]


@dataclass(frozen=True)
class _Answer:
    data: dict[str, Any]
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cache_hit: bool


@dataclass(frozen=True)
class _Failure:
    error_type: str
    reason: str
    raw_output: str | None = None


def _polars_dtype(annotation: Any) -> pl.DataType:
    """Column type for a field of a task's output model (flat models of scalars)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _polars_dtype(args[0])
    if typing.get_origin(annotation) is typing.Literal or annotation is str:
        return pl.Utf8
    return {float: pl.Float64, int: pl.Int64, bool: pl.Boolean}.get(annotation, pl.Utf8)


def output_schema(model: type[BaseModel]) -> dict[str, pl.DataType]:
    return {name: _polars_dtype(field.annotation) for name, field in model.model_fields.items()}


def _truncate(values: dict[str, Any], max_chars: int) -> tuple[dict[str, Any], bool]:
    truncated = False
    clipped = {}
    for name, value in values.items():
        if isinstance(value, str) and len(value) > max_chars:
            value = f"{value[:max_chars]}\n[... {len(value) - max_chars} more characters cut]"
            truncated = True
        clipped[name] = value
    return clipped, truncated


def _input_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _validate(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """The answer's fields, normalised by the output model, or ValueError with a short reason."""
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as error:
        parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in error.errors()[:3]]
        raise ValueError("; ".join(parts)) from None


def _parse(model: type[BaseModel], content: str) -> dict[str, Any]:
    try:
        # strict=False accepts raw newlines inside strings, which small local models often emit.
        data = json.loads(content, strict=False)
    except json.JSONDecodeError as error:
        raise ValueError(f"answer is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    return _validate(model, data)


@dataclass
class _Dispatcher:
    """Sends the distinct uncached inputs and records one outcome per input key."""

    task: LLMTask
    client: StructuredClient
    cache: ResponseCache
    pricing: Pricing
    metrics: StepMetrics
    budget: Budget
    batch_size: int
    rows_per_key: dict[str, int]
    on_done: Callable[[int], None]
    outcomes: dict[str, _Answer | _Failure] = field(default_factory=dict)

    def _finish(self, key: str, outcome: _Answer | _Failure) -> None:
        self.outcomes[key] = outcome
        if isinstance(outcome, _Failure):
            for _ in range(self.rows_per_key[key]):
                self.metrics.record_failure(outcome.error_type)
        self.on_done(self.rows_per_key[key])

    async def _call(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str, rows: int = 1) -> tuple[Completion, float]:
        started = time.perf_counter()
        completion = await self.client.complete_json(
            messages, schema_name=name, schema=schema, temperature=self.task.temperature, max_tokens=self.task.max_tokens * rows
        )
        latency_ms = (time.perf_counter() - started) * 1000
        cost = self.pricing.cost_usd(completion.prompt_tokens, completion.completion_tokens)
        self.metrics.calls += 1
        self.metrics.retries += completion.retries
        self.metrics.latencies_ms.append(latency_ms)
        self.metrics.prompt_tokens += completion.prompt_tokens
        self.metrics.completion_tokens += completion.completion_tokens
        self.metrics.cost_usd += cost
        self.budget.charge(completion.prompt_tokens + completion.completion_tokens, cost)
        return completion, latency_ms

    def _accept(self, key: str, data: dict[str, Any], model: str, prompt_tokens: int, completion_tokens: int, latency_ms: float) -> None:
        self.cache.put(key, CachedResponse(json.dumps(data, ensure_ascii=False), model, prompt_tokens, completion_tokens))
        self._finish(key, _Answer(data, model, prompt_tokens, completion_tokens, latency_ms, cache_hit=False))

    async def run_single(self, item: _Input) -> None:
        try:
            first, latency = await self._call(item.messages, self.task.json_schema, self.task.name)
        except SendingStopped as stop:
            return self._finish(item.key, _Failure("budget_exceeded", str(stop)))
        except ProviderError as error:
            return self._finish(item.key, _Failure("provider_error", str(error)))
        try:
            data = _parse(self.task.output_model, first.content)
            return self._accept(item.key, data, first.model, first.prompt_tokens, first.completion_tokens, latency)
        except ValueError as error:
            reason = str(error)
        # One reask that shows the model its own answer and what was wrong with it.
        self.metrics.reasks += 1
        reask = [*item.messages, {"role": "assistant", "content": first.content}, {"role": "user", "content": REASK.format(reason=reason)}]
        try:
            second, latency_2 = await self._call(reask, self.task.json_schema, self.task.name)
        except (ProviderError, SendingStopped) as error:
            return self._finish(item.key, _Failure("invalid_output", f"{reason} (reask failed: {error})", first.content[:_RAW_OUTPUT_KEEP]))
        try:
            data = _parse(self.task.output_model, second.content)
        except ValueError as error:
            return self._finish(item.key, _Failure("invalid_output", f"{error} (after one reask)", second.content[:_RAW_OUTPUT_KEEP]))
        self._accept(
            item.key, data, second.model,
            first.prompt_tokens + second.prompt_tokens, first.completion_tokens + second.completion_tokens, latency + latency_2,
        )

    async def run_batch(self, items: list[_Input]) -> None:
        if len(items) == 1:
            return await self.run_single(items[0])
        row_ids = [f"r{i + 1}" for i in range(len(items))]
        messages = batch_messages(self.task.prompt.system, [(rid, item.messages[-1]["content"]) for rid, item in zip(row_ids, items)])
        try:
            completion, latency = await self._call(
                messages, batch_schema(self.task.json_schema, len(items)), f"{self.task.name}_batch", rows=len(items)
            )
        except ContextOverflow:
            # Smaller batches from now on, for the rest of the step.
            self.batch_size = max(1, len(items) // 2)
            self.metrics.batch_splits += 1
            half = len(items) // 2
            await asyncio.gather(self.run_batch(items[:half]), self.run_batch(items[half:]))
            return
        except (ProviderError, SendingStopped) as error:
            error_type = "budget_exceeded" if isinstance(error, SendingStopped) else "provider_error"
            for item in items:
                self._finish(item.key, _Failure(error_type, str(error)))
            return
        self.metrics.batches += 1
        try:
            answers = split_batch_answer(completion.content)
        except ValueError:
            answers = {}
        share = len(items)
        retry_alone = []
        for row_id, item in zip(row_ids, items):
            try:
                data = _validate(self.task.output_model, answers[row_id])
            except (KeyError, ValueError):
                retry_alone.append(item)
                continue
            self._accept(item.key, data, completion.model, completion.prompt_tokens // share, completion.completion_tokens // share, latency)
        self.metrics.batch_rows_retried += len(retry_alone)
        await asyncio.gather(*(self.run_single(item) for item in retry_alone))


async def run_task_async(
    task: LLMTask,
    rows: pl.DataFrame,
    *,
    endpoint: Endpoint,
    cache: ResponseCache,
    pricing: Pricing = Pricing(),
    id_column: str,
    limits: Limits = Limits(),
    max_input_chars: int = 4000,
    on_progress: ProgressCallback | None = None,
    progress_every_s: float = 10.0,
) -> TaskResult:
    started = time.monotonic()
    metrics = StepMetrics(rows=rows.height)
    keys = CacheKeys(endpoint.model, task.json_schema, {"temperature": task.temperature, "max_tokens": task.max_tokens, **task.params})

    # Prepare every row: its prompt, cache key and lineage.
    prepared = []
    for row in rows.select(id_column, *task.input_columns).iter_rows(named=True):
        values, truncated = _truncate({c: row[c] for c in task.input_columns}, max_input_chars)
        messages = task.prompt.render(values)
        prepared.append((row[id_column], keys.key(messages), messages, _input_hash(values), truncated))

    rows_per_key: dict[str, int] = {}
    for _, key, *_ in prepared:
        rows_per_key[key] = rows_per_key.get(key, 0) + 1
    cached = cache.get_many(rows_per_key)
    done = sum(rows_per_key[k] for k in cached)
    metrics.cache_hits = done
    last_report = started

    def on_done(n_rows: int) -> None:
        nonlocal done, last_report
        done += n_rows
        metrics.wall_s = time.monotonic() - started
        if on_progress and time.monotonic() - last_report >= progress_every_s:
            last_report = time.monotonic()
            on_progress(done, metrics)

    pending: dict[str, _Input] = {}
    for _, key, messages, *_ in prepared:
        if key not in cached and key not in pending:
            pending[key] = _Input(key, messages)
    metrics.deduplicated = sum(rows_per_key[k] - 1 for k in pending)

    limiter = RateLimiter(limits.concurrency, limits.requests_per_minute, limits.tokens_per_minute)
    budget = Budget(limits.max_tokens_per_run, limits.max_cost_per_run_usd)
    client = StructuredClient(endpoint, limiter, stop_reason=lambda: budget.describe() if budget.exhausted else None)
    dispatcher = _Dispatcher(
        task, client, cache, pricing, metrics, budget,
        batch_size=max(1, task.batch_size), rows_per_key=rows_per_key, on_done=on_done,
    )
    try:
        inputs = list(pending.values())
        if dispatcher.batch_size > 1:
            # Batches are cut up front; a context overflow halves the ones still to be sent.
            await asyncio.gather(*(dispatcher.run_batch(inputs[i : i + task.batch_size]) for i in range(0, len(inputs), task.batch_size)))
        else:
            await asyncio.gather(*(dispatcher.run_single(item) for item in inputs))
    finally:
        await client.close()
    metrics.rate_limited = limiter.rate_limited
    metrics.wall_s = time.monotonic() - started
    if on_progress:
        on_progress(rows.height, metrics)

    outcomes = dispatcher.outcomes
    for key, response in cached.items():
        outcomes[key] = _Answer(json.loads(response.content), response.model, response.prompt_tokens, response.completion_tokens, 0.0, True)
    outputs, failures = [], []
    first_use: set[str] = set()
    for row_id, key, _, input_hash, truncated in prepared:
        outcome = outcomes[key]
        lineage = {"prompt_version": task.prompt_version, "input_hash": input_hash, "input_truncated": truncated}
        if isinstance(outcome, _Failure):
            failures.append({id_column: row_id, "error_type": outcome.error_type, "reason": outcome.reason, "raw_output": outcome.raw_output, "model": endpoint.model, **lineage})
            continue
        # A duplicate of an input answered in this run got its answer without a call of its own.
        reused = outcome.cache_hit or key in first_use
        first_use.add(key)
        outputs.append(
            {
                id_column: row_id,
                **outcome.data,
                **lineage,
                "model": outcome.model,  # as served: a provider may pin a dated snapshot of the alias asked for
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
                # The cost of producing this answer, whenever it was paid; run metadata has this run's spend.
                "cost_usd": pricing.cost_usd(outcome.prompt_tokens, outcome.completion_tokens),
                "cache_hit": reused,
                "latency_ms": 0.0 if reused else outcome.latency_ms,
            }
        )

    id_schema = {id_column: rows.schema[id_column]}
    return TaskResult(
        outputs=pl.DataFrame(outputs, schema={**id_schema, **output_schema(task.output_model), **LINEAGE_SCHEMA}).sort(id_column),
        failures=pl.DataFrame(failures, schema={**id_schema, **FAILURE_SCHEMA}).sort(id_column),
        metrics=metrics,
    )


def run_task(task: LLMTask, rows: pl.DataFrame, **kwargs: Any) -> TaskResult:
    """Synchronous entry point (Dagster ops and scripts); see `run_task_async`."""
    return asyncio.run(run_task_async(task, rows, **kwargs))
