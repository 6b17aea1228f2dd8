"""How hard a step may push the endpoint and how much it may spend: one value for chat and embeddings."""

from __future__ import annotations

from dataclasses import dataclass

from ai_assets.llm.breaker import CircuitBreaker
from ai_assets.llm.budget import Budget
from ai_assets.llm.ratelimit import RateLimiter
from ai_assets.secrets import STATE_URL_VARIABLE, from_environment


@dataclass(frozen=True)
class Limits:
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_tokens_per_run: int | None = None
    max_cost_per_run_usd: float | None = None
    # Requests in a row failed after their retries that stop the step sending (see breaker.py).
    breaker_failures: int = 10

    def rate_limiter(self, name: str = "") -> RateLimiter:
        """`name`: the endpoint and model the limits are for; with AI_ASSETS_STATE_URL they hold across
        every worker sharing it (llm/shared_limit.py)."""
        url = from_environment(STATE_URL_VARIABLE)
        shared = None
        if url and name:
            from ai_assets.llm.shared_limit import SharedRateLimit

            shared = SharedRateLimit(url, name, self.concurrency, self.requests_per_minute, self.tokens_per_minute)
        return RateLimiter(self.concurrency, self.requests_per_minute, self.tokens_per_minute, shared)

    def breaker(self, url: str) -> CircuitBreaker:
        return CircuitBreaker(url, self.breaker_failures)

    def budget(self) -> Budget:
        return Budget(self.max_tokens_per_run, self.max_cost_per_run_usd)


DEFAULT_LIMITS = Limits()
