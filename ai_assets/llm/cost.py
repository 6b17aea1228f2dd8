"""Token prices, so every output row and every run can say what it cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import polars as pl

COST_DECIMALS = 8  # a millionth of a cent


@dataclass(frozen=True)
class Pricing:
    """USD per million tokens; zero for local models. An embedding request has prompt tokens only."""

    input_per_1m: float = 0.0
    output_per_1m: float = 0.0

    @overload
    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float: ...

    @overload
    def cost_usd(self, prompt_tokens: pl.Expr, completion_tokens: pl.Expr) -> pl.Expr: ...

    def cost_usd(self, prompt_tokens, completion_tokens):
        """The cost of one call (token counts in, dollars out) or of a column of calls (polars
        expressions in, an expression out): one formula for the run's spend and the rows' `cost_usd`.
        Rounded to a millionth of a cent: polars and Python may differ in the last bit of a float."""
        cost = (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1_000_000
        return cost.round(COST_DECIMALS) if isinstance(cost, pl.Expr) else round(cost, COST_DECIMALS)


FREE = Pricing()  # a local model
