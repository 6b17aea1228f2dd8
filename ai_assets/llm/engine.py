"""Run an LLM task over a polars frame: cache, bounded concurrency, validation, lineage.

Every input row comes back exactly once: in `outputs` (validated answer plus lineage columns)
or in `failures` (error type, reason, raw answer), never both and never dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import polars as pl
from pydantic import BaseModel, ValidationError

from ai_assets.llm.cache import CachedResponse, ResponseCache, cache_key
from ai_assets.llm.client import Endpoint, StructuredClient
from ai_assets.llm.cost import Pricing
from ai_assets.llm.metrics import StepMetrics
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
    "error_type": pl.Utf8,  # provider_error | invalid_output
    "reason": pl.Utf8,
    "raw_output": pl.Utf8,
    "model": pl.Utf8,
    "prompt_version": pl.Utf8,
    "input_hash": pl.Utf8,
    "input_truncated": pl.Boolean,
}
_RAW_OUTPUT_KEEP = 2000


@dataclass(frozen=True)
class TaskResult:
    outputs: pl.DataFrame
    failures: pl.DataFrame
    metrics: StepMetrics


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


def _validation_reason(error: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in error.errors()[:3]]
    return "; ".join(parts)


def _parse_answer(model: type[BaseModel], content: str) -> BaseModel:
    try:
        # strict=False accepts raw newlines inside strings, which small local models often emit.
        data = json.loads(content, strict=False)
    except json.JSONDecodeError as error:
        raise ValueError(f"answer is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    return model.model_validate(data)


def _provider_reason(error: Exception) -> str:
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code} after retries: {error.message[:300]}"
    return f"{type(error).__name__} after retries: {str(error)[:300]}"


@dataclass
class _Runner:
    """Turns one input row into one output row or one failure row."""

    task: LLMTask
    client: StructuredClient
    cache: ResponseCache
    pricing: Pricing
    id_column: str
    max_input_chars: int
    metrics: StepMetrics

    @property
    def params(self) -> dict[str, Any]:
        return {"temperature": self.task.temperature, "max_tokens": self.task.max_tokens, **self.task.params}

    async def run_row(self, row: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        values, truncated = _truncate({c: row[c] for c in self.task.input_columns}, self.max_input_chars)
        messages = self.task.prompt.render(values)
        key = cache_key(self.client.model, messages, self.task.json_schema, self.params)
        lineage = {
            self.id_column: row[self.id_column],
            "model": self.client.model,
            "prompt_version": self.task.prompt_version,
            "input_hash": _input_hash(values),
            "input_truncated": truncated,
        }
        cached = self.cache.get(key)
        started = time.perf_counter()
        if cached is None:
            try:
                completion = await self.client.complete_json(
                    messages,
                    schema_name=self.task.name,
                    schema=self.task.json_schema,
                    temperature=self.task.temperature,
                    max_tokens=self.task.max_tokens,
                )
            except (openai.APIError, asyncio.TimeoutError) as error:
                self.metrics.record_failure("provider_error")
                return False, {**lineage, "error_type": "provider_error", "reason": _provider_reason(error), "raw_output": None}
            latency_ms = (time.perf_counter() - started) * 1000
            self.metrics.calls += 1
            self.metrics.retries += completion.retries
            self.metrics.latencies_ms.append(latency_ms)
            self.metrics.prompt_tokens += completion.prompt_tokens
            self.metrics.completion_tokens += completion.completion_tokens
            self.metrics.cost_usd += self.pricing.cost_usd(completion.prompt_tokens, completion.completion_tokens)
            answer = CachedResponse(completion.content, completion.model, completion.prompt_tokens, completion.completion_tokens)
        else:
            self.metrics.cache_hits += 1
            latency_ms, answer = 0.0, cached
        try:
            parsed = _parse_answer(self.task.output_model, answer.content)
        except ValueError as error:
            self.metrics.record_failure("invalid_output")
            return False, {
                **lineage,
                "error_type": "invalid_output",
                "reason": _validation_reason(error) if isinstance(error, ValidationError) else str(error),
                "raw_output": answer.content[:_RAW_OUTPUT_KEEP],
            }
        if cached is None:
            self.cache.put(key, answer)
        return True, {
            **lineage,
            **parsed.model_dump(),
            "model": answer.model,  # as served: a provider may pin a dated snapshot of the alias asked for
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            # The cost of producing this answer, whenever it was paid; run metadata has this run's spend.
            "cost_usd": self.pricing.cost_usd(answer.prompt_tokens, answer.completion_tokens),
            "cache_hit": cached is not None,
            "latency_ms": latency_ms,
        }


async def run_task_async(
    task: LLMTask,
    rows: pl.DataFrame,
    *,
    endpoint: Endpoint,
    cache: ResponseCache,
    pricing: Pricing = Pricing(),
    id_column: str,
    concurrency: int = 8,
    max_input_chars: int = 4000,
    on_progress: ProgressCallback | None = None,
    progress_every_s: float = 10.0,
) -> TaskResult:
    metrics = StepMetrics(rows=rows.height)
    client = StructuredClient(endpoint)
    runner = _Runner(task, client, cache, pricing, id_column, max_input_chars, metrics)
    semaphore = asyncio.Semaphore(max(1, concurrency))
    outputs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    started = last_report = time.monotonic()

    async def bounded(row: dict[str, Any]) -> None:
        nonlocal last_report
        async with semaphore:
            ok, record = await runner.run_row(row)
        (outputs if ok else failures).append(record)
        metrics.wall_s = time.monotonic() - started
        if on_progress and time.monotonic() - last_report >= progress_every_s:
            last_report = time.monotonic()
            on_progress(len(outputs) + len(failures), metrics)

    try:
        await asyncio.gather(*(bounded(row) for row in rows.iter_rows(named=True)))
    finally:
        await client.close()
    metrics.wall_s = time.monotonic() - started
    if on_progress:
        on_progress(rows.height, metrics)

    id_schema = {id_column: rows.schema[id_column]}
    output_columns = {**id_schema, **output_schema(task.output_model), **LINEAGE_SCHEMA}
    failure_columns = {**id_schema, **FAILURE_SCHEMA}
    return TaskResult(
        outputs=pl.DataFrame(outputs, schema=output_columns).sort(id_column),
        failures=pl.DataFrame(failures, schema=failure_columns).sort(id_column),
        metrics=metrics,
    )


def run_task(task: LLMTask, rows: pl.DataFrame, **kwargs: Any) -> TaskResult:
    """Synchronous entry point (Dagster ops and scripts); see `run_task_async`."""
    return asyncio.run(run_task_async(task, rows, **kwargs))
