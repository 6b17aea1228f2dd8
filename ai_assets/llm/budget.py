"""A per-run spending limit: when it is reached the step stops sending and keeps what it has."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Budget:
    """`None` means no limit. Spend is counted as answers arrive, so requests already in flight
    when the limit is reached may overshoot it by at most one request each."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    tokens: int = 0
    cost_usd: float = 0.0

    def charge(self, tokens: int, cost_usd: float) -> None:
        self.tokens += tokens
        self.cost_usd += cost_usd

    @property
    def exhausted(self) -> bool:
        return (self.max_tokens is not None and self.tokens >= self.max_tokens) or (
            self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd
        )

    def describe(self) -> str:
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"token budget of {self.max_tokens} reached ({self.tokens} spent); rerun to resume"
        return f"cost budget of ${self.max_cost_usd} reached (${self.cost_usd:.4f} spent); rerun to resume"
