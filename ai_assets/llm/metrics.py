"""Per-step metrics of an LLM or embedding step: calls, cache hits, tokens, cost, latency, failures."""

from __future__ import annotations

from dataclasses import dataclass, field

# How a row can fail (quality.vocabulary.LLM_ERROR_TYPES, which the failure tables use): one
# metadata key each, so every LLM asset plots the same series.
FAILURE_TYPES = ("provider_error", "invalid_output", "budget_exceeded")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class StepMetrics:
    rows: int = 0
    requests: int = 0  # every HTTP request sent, answered or not (retries included)
    calls: int = 0  # requests answered
    retries: int = 0
    rate_limited: int = 0
    reasks: int = 0
    batches: int = 0
    batch_splits: int = 0
    batch_rows_retried: int = 0
    cache_hits: int = 0
    deduplicated: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why the circuit breaker stopped the step sending, if it did
    stopped_for_good: bool = False  # it opened on an answer no retry changes (a wrong key or model)

    def record_call(
        self, *, retries: int, latency_ms: float, prompt_tokens: int, completion_tokens: int, cost_usd: float
    ) -> None:
        """One answered request (chat or embeddings), with the retries it took."""
        self.calls += 1
        self.retries += retries
        self.latencies_ms.append(latency_ms)
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.cost_usd += cost_usd

    def record_failure(self, error_type: str) -> None:
        self.failures += 1
        self.failure_reasons[error_type] = self.failure_reasons.get(error_type, 0) + 1

    def stop(self, reason: str | None, for_good: bool) -> None:
        """Records why the circuit breaker stopped the step (nothing when it did not)."""
        if reason:
            self.stopped, self.stopped_for_good = reason, for_good

    def retry_can_help(self) -> bool:
        """Whether retrying the whole step could succeed: not after a wrong key or model, nor when
        the model answered but badly (the same prompts get the same answers)."""
        if self.stopped:
            return not self.stopped_for_good
        return self.failure_reasons.get("provider_error", 0) > self.failure_reasons.get("invalid_output", 0)

    def why_failed(self, max_failure_share: float, answered_without_call: int = 0) -> str | None:
        """Why the step must fail rather than succeed, or None: the breaker stopped it, or more than
        `max_failure_share` of its rows failed (its rows: those asked, and the `answered_without_call`
        by a cascade, which cannot fail). Rows over budget don't count: the budget is a deliberate
        stop, and those rows are asked again by the next run."""
        if self.stopped:
            return f"stopped sending: {self.stopped}"
        failed = self.failures - self.failure_reasons.get("budget_exceeded", 0)
        rows = self.rows + answered_without_call
        if rows and failed / rows > max_failure_share:
            return (
                f"{failed} of {rows} rows failed ({self.failure_reasons}), more than "
                f"AI_ASSETS_LLM_MAX_FAILURE_SHARE={max_failure_share:g}; see the failures table for each reason"
            )
        return None

    def progress_line(self, done: int) -> str:
        """One log line for a long step: rows done/total, rate, ETA, cache hits, failures."""
        rate = done / self.wall_s if self.wall_s else 0.0
        eta = f"{(self.rows - done) / rate:.0f}s" if rate else "?"
        return (
            f"{done}/{self.rows} rows ({done / max(self.rows, 1):.0%}), {rate:.2f} rows/s, ETA {eta}; "
            f"{self.calls} calls, {self.cache_hits} cache hits, {self.failures} failures"
        )

    @classmethod
    def combined(cls, parts: list[StepMetrics], rows: int) -> StepMetrics:
        """The metrics of several engine calls as one step of `rows` rows (e.g. draft, critique, refine)."""
        total = cls(rows=rows)
        for part in parts:
            for name in ("requests", "calls", "retries", "rate_limited", "reasks", "cache_hits", "deduplicated"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            for name in ("failures", "prompt_tokens", "completion_tokens", "cost_usd", "wall_s"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.latencies_ms += part.latencies_ms
            for reason, count in part.failure_reasons.items():
                total.failure_reasons[reason] = total.failure_reasons.get(reason, 0) + count
        return total

    def metadata(self) -> dict[str, float | int]:
        """The keys every LLM and embedding asset reports, the same on each, so the UI plots the same
        series over partitions. Latency is the provider's: from sending the request that was answered
        to its answer, without the wait for a concurrency slot or the retries before it."""
        return {
            "rows": self.rows,
            "llm_calls": self.calls,
            "llm_requests": self.requests,
            "cache_hits": self.cache_hits,
            "failures": self.failures,
            **{f"failures_{kind}": self.failure_reasons.get(kind, 0) for kind in FAILURE_TYPES},
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "latency_p50_ms": round(_percentile(self.latencies_ms, 0.50), 1),
            "latency_p95_ms": round(_percentile(self.latencies_ms, 0.95), 1),
            "rows_per_s": round(self.rows / self.wall_s, 2) if self.wall_s else 0.0,
        }

    def to_dict(self) -> dict[str, float | int | dict[str, int]]:
        """Everything the engine counted, for the run log and benchmarks (the UI gets `metadata`).
        Spend counts only calls made in this run; cached rows cost nothing now."""
        return {
            "rows": self.rows,
            "llm_requests": self.requests,
            "llm_calls": self.calls,
            "llm_retries": self.retries,
            "rate_limited": self.rate_limited,
            "reasks": self.reasks,
            "batches": self.batches,
            "batch_splits": self.batch_splits,
            "batch_rows_retried": self.batch_rows_retried,
            "cache_hits": self.cache_hits,
            "deduplicated": self.deduplicated,
            "failures": self.failures,
            "failure_reasons": dict(self.failure_reasons),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "wall_s": round(self.wall_s, 2),
            "rows_per_s": round(self.rows / self.wall_s, 2) if self.wall_s else 0.0,
            "latency_p50_ms": round(_percentile(self.latencies_ms, 0.50), 1),
            "latency_p95_ms": round(_percentile(self.latencies_ms, 0.95), 1),
        }
