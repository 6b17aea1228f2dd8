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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
from pydantic import BaseModel, ValidationError

from ai_assets.llm.batching import batch_messages, batch_schema, split_batch_answer
from ai_assets.llm.cache import CachedResponse, CacheKeys, ResponseCache
from ai_assets.llm.client import Completion, ContextOverflow, Endpoint, ModelClient, ProviderError, SendingStopped
from ai_assets.llm.cost import FREE, Pricing
from ai_assets.llm.limits import DEFAULT_LIMITS, Limits
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.redaction import redact_expr
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
    "Your answer is invalid: {reason}. Reply again with only the corrected JSON object, matching the schema exactly."
)


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


@dataclass(frozen=True)
class _Failure:
    error_type: str
    reason: str
    raw_output: str | None = None


def _polars_dtype(annotation: Any) -> pl.DataType:
    """Column type for a field of a task's output model (scalars, and lists of scalars)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _polars_dtype(args[0])
    if typing.get_origin(annotation) is list:
        return pl.List(_polars_dtype(args[0]))
    if typing.get_origin(annotation) is typing.Literal or annotation is str:
        return pl.Utf8
    return {float: pl.Float64, int: pl.Int64, bool: pl.Boolean}.get(annotation, pl.Utf8)


def output_schema(model: type[BaseModel]) -> dict[str, pl.DataType]:
    return {name: _polars_dtype(field.annotation) for name, field in model.model_fields.items()}


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
    client: ModelClient
    cache: ResponseCache
    metrics: StepMetrics
    batch_size: int  # rows per request; halved for the rest of the step on a context overflow
    rows_per_key: dict[str, int]
    on_done: Callable[[int], None]
    outcomes: dict[str, _Answer | _Failure] = field(default_factory=dict)

    def _finish(self, key: str, outcome: _Answer | _Failure) -> None:
        self.outcomes[key] = outcome
        if isinstance(outcome, _Failure):
            for _ in range(self.rows_per_key[key]):
                self.metrics.record_failure(outcome.error_type)
        self.on_done(self.rows_per_key[key])

    async def run(self, pending: list[_Input], workers: int) -> None:
        """Sends `pending`, cutting each batch when a worker is free to send it, so a batch size
        halved by a context overflow holds for every batch cut afterwards."""
        queue = deque(pending)

        async def worker() -> None:
            while queue:
                await self.run_batch([queue.popleft() for _ in range(min(self.batch_size, len(queue)))])

        # One worker per request the limiter may let through at once: more would only cut batches early.
        await asyncio.gather(*(worker() for _ in range(min(workers, len(pending)))))

    async def _call(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str, rows: int = 1
    ) -> Completion:
        return await self.client.complete_json(
            messages,
            schema_name=name,
            schema=schema,
            temperature=self.task.temperature,
            max_tokens=self.task.max_tokens * rows,
        )

    def _accept(
        self, key: str, data: dict[str, Any], model: str, prompt_tokens: int, completion_tokens: int, latency_ms: float
    ) -> None:
        self.cache.put(key, CachedResponse(orjson.dumps(data).decode(), model, prompt_tokens, completion_tokens))
        self._finish(key, _Answer(data, model, prompt_tokens, completion_tokens, latency_ms))

    async def run_single(self, item: _Input) -> None:
        try:
            first = await self._call(item.messages, self.task.json_schema, self.task.name)
        except SendingStopped as stop:
            return self._finish(item.key, _Failure("budget_exceeded", str(stop)))
        except ProviderError as error:
            return self._finish(item.key, _Failure("provider_error", str(error)))
        try:
            data = _parse(self.task.output_model, first.content)
        except ValueError as error:
            reason = str(error)
        else:
            return self._accept(
                item.key, data, first.model, first.prompt_tokens, first.completion_tokens, first.latency_ms
            )
        # One reask that shows the model its own answer and what was wrong with it.
        self.metrics.reasks += 1
        reask = [
            *item.messages,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": REASK.format(reason=reason)},
        ]
        try:
            second = await self._call(reask, self.task.json_schema, self.task.name)
        except (ProviderError, SendingStopped) as error:
            return self._finish(
                item.key,
                _Failure("invalid_output", f"{reason} (reask failed: {error})", first.content[:_RAW_OUTPUT_KEEP]),
            )
        try:
            data = _parse(self.task.output_model, second.content)
        except ValueError as error:
            return self._finish(
                item.key, _Failure("invalid_output", f"{error} (after one reask)", second.content[:_RAW_OUTPUT_KEEP])
            )
        self._accept(
            item.key,
            data,
            second.model,
            first.prompt_tokens + second.prompt_tokens,
            first.completion_tokens + second.completion_tokens,
            first.latency_ms + second.latency_ms,
        )

    async def run_batch(self, items: list[_Input]) -> None:
        if len(items) == 1:
            return await self.run_single(items[0])
        row_ids = [f"r{i + 1}" for i in range(len(items))]
        messages = batch_messages(
            self.task.prompt.system, [(rid, item.messages[-1]["content"]) for rid, item in zip(row_ids, items)]
        )
        try:
            completion = await self._call(
                messages, batch_schema(self.task.json_schema, len(items)), f"{self.task.name}_batch", rows=len(items)
            )
        except ContextOverflow:
            # Smaller batches from now on, for the rest of the step (`run` cuts them with this size).
            half = len(items) // 2
            self.batch_size = min(self.batch_size, half)
            self.metrics.batch_splits += 1
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
            self._accept(
                item.key,
                data,
                completion.model,
                completion.prompt_tokens // share,
                completion.completion_tokens // share,
                completion.latency_ms,
            )
        self.metrics.batch_rows_retried += len(retry_alone)
        await asyncio.gather(*(self.run_single(item) for item in retry_alone))


def _prepare(task: LLMTask, rows: pl.DataFrame, id_column: str, max_input_chars: int, redact_pii: bool) -> pl.DataFrame:
    """One row per input row: the rendered user prompt, truncation flag and input hash (vectorised).
    PII is redacted before the cut: a card number split by the cut would no longer look like one."""
    frame = rows.select(id_column, *task.input_columns)
    if redact_pii:
        frame = frame.with_columns(redact_expr(pl.col(c)) for c in task.input_columns)
    clipped = [
        pl.when(pl.col(c).str.len_chars() > max_input_chars)
        .then(
            pl.format(
                "{}\n[... {} more characters cut]",
                pl.col(c).str.slice(0, max_input_chars),
                pl.col(c).str.len_chars() - max_input_chars,
            )
        )
        .otherwise(pl.col(c))
        .alias(c)
        for c in task.input_columns
    ]
    truncated = pl.any_horizontal(
        [pl.col(c).str.len_chars().fill_null(0) > max_input_chars for c in task.input_columns]
    )
    frame = frame.with_columns(input_truncated=truncated).with_columns(clipped)
    values = frame.select(task.input_columns).rows()
    return frame.select(
        id_column,
        "input_truncated",
        user=task.prompt.user_expr(),
        input_hash=pl.Series([hashlib.sha256(orjson.dumps(v)).hexdigest()[:16] for v in values], dtype=pl.Utf8),
    )


def lineage_without_call(
    task: LLMTask, rows: pl.DataFrame, id_column: str, max_input_chars: int, redact_pii: bool, answered_by: str
) -> pl.DataFrame:
    """The lineage of rows answered without asking the model (e.g. by a cascade's proxy): what the
    engine would have recorded for a call (the same input hash and truncation flag), with the model
    `answered_by`, no tokens, no cost, no latency."""
    return _prepare(task, rows, id_column, max_input_chars, redact_pii).select(
        id_column,
        model=pl.lit(answered_by),
        prompt_version=pl.lit(task.prompt_version),
        input_hash="input_hash",
        prompt_tokens=pl.lit(0, pl.Int64),
        completion_tokens=pl.lit(0, pl.Int64),
        cost_usd=pl.lit(0.0),
        cache_hit=pl.lit(False),
        latency_ms=pl.lit(0.0),
        input_truncated="input_truncated",
    )


def _answer_frame(task: LLMTask, cached: dict[str, CachedResponse], answered: dict[str, _Answer]) -> pl.DataFrame:
    """One row per answered key: the output fields, model, tokens, latency, and whether it was cached."""
    fields = output_schema(task.output_model)
    from_cache = pl.DataFrame(
        {
            "key": list(cached),
            "content": [r.content for r in cached.values()],
            "model": [r.model for r in cached.values()],
            "prompt_tokens": [r.prompt_tokens for r in cached.values()],
            "completion_tokens": [r.completion_tokens for r in cached.values()],
        },
        schema={
            "key": pl.Utf8,
            "content": pl.Utf8,
            "model": pl.Utf8,
            "prompt_tokens": pl.Int64,
            "completion_tokens": pl.Int64,
        },
    )
    # Cached answers were validated when they arrived: decoding them is all a cached row costs.
    from_cache = from_cache.with_columns(
        pl.col("content").str.json_decode(pl.Struct(fields)), latency_ms=pl.lit(0.0), cached=pl.lit(True)
    ).unnest("content")
    from_run = pl.DataFrame(
        [
            {
                "key": key,
                **a.data,
                "model": a.model,
                "prompt_tokens": a.prompt_tokens,
                "completion_tokens": a.completion_tokens,
                "latency_ms": a.latency_ms,
                "cached": False,
            }
            for key, a in answered.items()
        ],
        schema=from_cache.schema,
    )
    return pl.concat([from_cache, from_run])


async def run_task_async(
    task: LLMTask,
    rows: pl.DataFrame,
    *,
    endpoint: Endpoint,
    cache: ResponseCache,
    pricing: Pricing = FREE,
    id_column: str,
    limits: Limits = DEFAULT_LIMITS,
    max_input_chars: int = 4000,
    redact_pii: bool = False,
    on_progress: ProgressCallback | None = None,
    progress_every_s: float = 10.0,
) -> TaskResult:
    started = time.monotonic()
    metrics = StepMetrics(rows=rows.height)
    keys = CacheKeys(
        endpoint.model,
        task.prompt.system,
        task.json_schema,
        {"temperature": task.temperature, "max_tokens": task.max_tokens, **task.params},
    )
    prepared = _prepare(task, rows, id_column, max_input_chars, redact_pii)
    prepared = prepared.with_columns(key=pl.Series([keys.key(user) for user in prepared["user"]], dtype=pl.Utf8))

    rows_per_key = dict(prepared.group_by("key", maintain_order=True).len().iter_rows())
    cached = cache.get_many(rows_per_key)
    done = metrics.cache_hits = sum(rows_per_key[k] for k in cached)
    last_report = started

    def on_done(n_rows: int) -> None:
        nonlocal done, last_report
        done += n_rows
        metrics.wall_s = time.monotonic() - started
        if on_progress and time.monotonic() - last_report >= progress_every_s:
            last_report = time.monotonic()
            on_progress(done, metrics)

    pending = [
        _Input(key, task.prompt.messages(user))
        for key, user in prepared.filter(~pl.col("key").is_in(list(cached)))
        .unique("key", keep="first", maintain_order=True)
        .select("key", "user")
        .iter_rows()
    ]
    metrics.deduplicated = sum(rows_per_key[item.key] - 1 for item in pending)

    dispatcher = None
    if pending:
        client = ModelClient(endpoint, limits, pricing, metrics)
        dispatcher = _Dispatcher(
            task, client, cache, metrics, batch_size=max(1, task.batch_size), rows_per_key=rows_per_key, on_done=on_done
        )
        try:
            await dispatcher.run(pending, workers=limits.concurrency)
        finally:
            await client.close()
        metrics.stop(client.breaker.reason, for_good=not client.breaker.retry_can_help)
    metrics.wall_s = time.monotonic() - started
    if on_progress:
        on_progress(rows.height, metrics)

    outcomes = dispatcher.outcomes if dispatcher else {}
    answered = {k: o for k, o in outcomes.items() if isinstance(o, _Answer)}
    failed = {k: o for k, o in outcomes.items() if isinstance(o, _Failure)}
    lineage = prepared.with_columns(
        prompt_version=pl.lit(task.prompt_version),
        # A duplicate of an input answered in this run got its answer without a call of its own.
        reused=~pl.col("key").is_first_distinct(),
    )
    outputs = (
        lineage.join(_answer_frame(task, cached, answered), on="key", how="inner", maintain_order="left")
        .with_columns(
            cache_hit=pl.col("cached") | pl.col("reused"),
            cost_usd=pricing.cost_usd(pl.col("prompt_tokens"), pl.col("completion_tokens")),
        )
        .with_columns(latency_ms=pl.when(pl.col("cache_hit")).then(0.0).otherwise(pl.col("latency_ms")))
        .select(id_column, *output_schema(task.output_model), *LINEAGE_SCHEMA)
    )
    failure_frame = pl.DataFrame(
        {
            "key": list(failed),
            "error_type": [f.error_type for f in failed.values()],
            "reason": [f.reason for f in failed.values()],
            "raw_output": [f.raw_output for f in failed.values()],
        },
        schema={"key": pl.Utf8, "error_type": pl.Utf8, "reason": pl.Utf8, "raw_output": pl.Utf8},
    )
    failures = (
        lineage.join(failure_frame, on="key", how="inner", maintain_order="left")
        .with_columns(model=pl.lit(endpoint.model))
        .select(id_column, *FAILURE_SCHEMA)
    )
    return TaskResult(outputs=outputs.sort(id_column), failures=failures.sort(id_column), metrics=metrics)


def run_task(task: LLMTask, rows: pl.DataFrame, **kwargs: Any) -> TaskResult:
    """Synchronous entry point (Dagster ops and scripts); see `run_task_async`."""
    return asyncio.run(run_task_async(task, rows, **kwargs))
