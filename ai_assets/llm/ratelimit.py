"""Adaptive admission control for LLM requests: concurrency, requests/min, tokens/min, pauses.

One `RateLimiter` is shared by every request of a step. It keeps a concurrency limit that halves
on a 429 and grows back by one after a run of successes (AIMD, as TCP does), token buckets for
the configured requests-per-minute and tokens-per-minute, and a shared pause: a 429's
`Retry-After`, or `x-ratelimit-remaining-* = 0` with its reset time, stops every request, not
just the one that was refused.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai_assets.llm.shared_limit import SharedRateLimit

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """OpenAI-style reset durations ("1s", "6m0s", "250ms") or plain seconds, in seconds."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts) if parts else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's own wait instruction, if it gave one (`retry-after-ms` or `retry-after`)."""
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    return parse_duration(headers.get("retry-after"))


@dataclass
class TokenBucket:
    """`rate_per_s` refill with one second of burst; `None` rate means unlimited."""

    rate_per_s: float | None
    level: float = 0.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate_per_s or 0.0)

    def _refill(self, now: float) -> None:
        if self.rate_per_s:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate_per_s)
        self.updated = now

    def wait_time(self, amount: float, now: float) -> float:
        if not self.rate_per_s:
            return 0.0
        self._refill(now)
        # A request larger than the burst only needs a full bucket, or it would wait forever.
        needed = min(amount, self.capacity)
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate_per_s

    def take(self, amount: float) -> None:
        if self.rate_per_s:
            self.level -= min(amount, self.capacity)

    def refund(self, amount: float) -> None:
        if self.rate_per_s:
            self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    def __init__(
        self,
        max_concurrency: int,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        shared: SharedRateLimit | None = None,
    ):
        """`shared`: the same limits held across every worker too (llm/shared_limit.py)."""
        self.max_concurrency = max(1, max_concurrency)
        self.concurrency = self.max_concurrency
        self.in_flight = 0
        self.paused_until = 0.0
        self._successes_since_cut = 0
        self._requests = TokenBucket(requests_per_minute / 60 if requests_per_minute else None)
        self._tokens = TokenBucket(tokens_per_minute / 60 if tokens_per_minute else None)
        self._slots = asyncio.Condition()
        self._shared, self._shared_slots = shared, []
        # Its own threads for the database's waits: at most `concurrency` acquiring and as many
        # releasing, so a release never queues behind acquires that wait for it.
        self._shared_threads = ThreadPoolExecutor(2 * self.max_concurrency + 1) if shared else None

    async def acquire(self, estimated_tokens: int) -> None:
        async with self._slots:
            await self._slots.wait_for(lambda: self.in_flight < self.concurrency)
            self.in_flight += 1
        while True:
            now = time.monotonic()
            wait = max(
                self.paused_until - now,
                self._requests.wait_time(1, now),
                self._tokens.wait_time(estimated_tokens, now),
            )
            if wait <= 0:
                self._requests.take(1)
                self._tokens.take(estimated_tokens)
                break
            await asyncio.sleep(wait)
        if self._shared is not None:  # then the cluster's permit (a database round trip, off the loop)
            waiting = self._shared_threads.submit(self._shared.acquire, estimated_tokens)
            try:
                self._shared_slots.append(await asyncio.wrap_future(waiting))
            except BaseException:
                # Cancelled (a run stopped) or failed: a slot the thread still gets is given back, and
                # so is this request's local slot.
                waiting.add_done_callback(self._give_back)
                await self._release_local()
                raise

    async def release(self, refund_tokens: int = 0) -> None:
        self._tokens.refund(max(0, refund_tokens))
        try:
            if self._shared is not None and self._shared_slots:
                await self._in_shared_thread(self._shared.release, self._shared_slots.pop())
        finally:
            await self._release_local()

    async def _release_local(self) -> None:
        async with self._slots:
            self.in_flight -= 1
            self._slots.notify()  # one waiter per freed slot: waking all of them is quadratic

    def _give_back(self, acquired) -> None:
        if not acquired.cancelled() and acquired.exception() is None:
            self._shared.release(acquired.result())

    async def aclose(self) -> None:
        """Stops waiting for the cluster's permits and closes the connection to them."""
        if self._shared is not None:
            self._shared.stop()
            await asyncio.get_running_loop().run_in_executor(None, self._shared_threads.shutdown)
            self._shared.close()

    async def _in_shared_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._shared_threads, function, *args)

    def on_rate_limited(self, wait_s: float) -> None:
        """A 429: everybody waits, and fewer requests fly at once afterwards."""
        self.paused_until = max(self.paused_until, time.monotonic() + wait_s)
        self.concurrency = max(1, self.concurrency // 2)
        self._successes_since_cut = 0

    def on_success(self, headers: Mapping[str, str]) -> None:
        now = time.monotonic()
        for kind in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
            if remaining is not None and reset is not None and remaining.strip() == "0":
                self.paused_until = max(self.paused_until, now + reset)
        self._successes_since_cut += 1
        if self.concurrency < self.max_concurrency and self._successes_since_cut >= self.concurrency:
            self.concurrency += 1
            self._successes_since_cut = 0
