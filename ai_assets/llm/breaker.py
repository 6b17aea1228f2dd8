"""Stops a step sending once its endpoint is clearly not answering, and says what to check.

Without it an outage reads as success: every row of the day is dead-lettered one request (and its
retries) at a time. A wrong key, an unknown model or a refused request (401/403/404) opens the
breaker at the first answer; other failures (5xx, timeouts, connection errors, malformed bodies)
open it after `max_consecutive` requests in a row failed even after their retries. Rate limits
(429) never count: the limiter handles them.

Until the endpoint has answered once, the client sends a step's requests one at a time (the
probe, see `ModelClient._send`), and a request nothing answered even after its retries opens the
breaker at once: the endpoint is down for every row, not for this one. So a wrong key or a dead
endpoint costs one request and its retries, not one per concurrency slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Statuses a retry cannot fix and every other row would get too.
FATAL_STATUSES = {401: "authentication", 403: "permission", 404: "not found"}


def what_to_check(status: int | None, url: str) -> str:
    """The next thing an operator should look at for a failure with this HTTP status (None: no answer)."""
    if status in (401, 403):
        return f"check OPENAI_API_KEY: {url} rejected it"
    if status == 404:
        return (
            "check the model name (AI_ASSETS_CHAT_MODEL, AI_ASSETS_EMBED_MODEL) and the URL path: "
            f"{url} knows no such model or route"
        )
    if status is None:
        return (
            f"check that {url} is reachable (OPENAI_BASE_URL) and its server is running; "
            "if it is only slow, raise AI_ASSETS_LLM_TIMEOUT_S"
        )
    return f"the endpoint {url} is failing (HTTP {status}); check its status page or logs"


@dataclass
class CircuitBreaker:
    url: str
    max_consecutive: int = 10
    consecutive: int = 0
    reason: str | None = None  # set once the breaker is open: why, and what to check
    retry_can_help: bool = True  # False when it opened on an answer no retry changes (a wrong key)
    answered: bool = False  # the endpoint answered a request of this step: its key, model and URL work
    # (status, url) -> what to check; another system (the order service) names its own settings.
    advice: Callable[[int | None, str], str] = what_to_check

    @property
    def open(self) -> bool:
        return self.reason is not None

    def record_success(self) -> None:
        """The endpoint answered: a reply, or a refusal about that row alone (its prompt too long)."""
        self.consecutive = 0
        self.answered = True

    def record_failure(self, status: int | None, error: str) -> None:
        """One request that failed for good (after its retries); `status` None when nothing answered.
        A 429 that outlived its retries is the endpoint pacing us, not an outage: it does not count."""
        if status == 429:
            return
        self.consecutive += 1
        if self.open:
            return
        if status in FATAL_STATUSES:
            self.retry_can_help = False
            self.reason = f"{FATAL_STATUSES[status]} error from {self.url}: {error}; {self.advice(status, self.url)}"
        elif status is None and not self.answered:
            self.reason = (
                f"no answer to the step's first request, even after its retries ({error}); "
                f"{self.advice(status, self.url)}"
            )
        elif self.consecutive >= self.max_consecutive:
            self.reason = (
                f"{self.consecutive} requests in a row failed after their retries (last: {error}); "
                f"{self.advice(status, self.url)}"
            )
