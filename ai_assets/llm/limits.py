"""How hard a step may push the endpoint and how much it may spend: one value for chat and embeddings."""

from __future__ import annotations

from dataclasses import dataclass

from ai_assets.llm.breaker import CircuitBreaker
from ai_assets.llm.budget import Budget
from ai_assets.llm.ratelimit import RateLimiter


@dataclass(frozen=True)
class Limits:
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_tokens_per_run: int | None = None
    max_cost_per_run_usd: float | None = None
    # Requests in a row failed after their retries that stop the step sending (see breaker.py).
    breaker_failures: int = 10

    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.concurrency, self.requests_per_minute, self.tokens_per_minute)

    def breaker(self, url: str) -> CircuitBreaker:
        return CircuitBreaker(url, self.breaker_failures)

    def budget(self) -> Budget:
        return Budget(self.max_tokens_per_run, self.max_cost_per_run_usd)


DEFAULT_LIMITS = Limits()
