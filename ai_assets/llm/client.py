"""Structured chat completions against any OpenAI-compatible endpoint.

Retries are ours, not the `openai` client's, so that a 429 can pause every request of the step
(see `ratelimit.py`): 408/409/429/5xx, timeouts and connection errors are retried with
exponential backoff and jitter, or after the server's `Retry-After` when it gives one.
Structured output uses `json_schema` where the server supports it, else `json_object` with the
schema attached, which llama.cpp's server turns into a grammar.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import orjson

from ai_assets.llm.ratelimit import RateLimiter, retry_after_seconds

RESPONSE_FORMATS = ("auto", "json_schema", "json_object")
_RETRYABLE_STATUS = {408, 409, 429}
_BACKOFF_BASE_S, _BACKOFF_CAP_S = 0.5, 30.0


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call the model. Holds no secret: the key comes from OPENAI_API_KEY."""

    base_url: str | None
    model: str
    timeout_s: float = 60.0
    max_retries: int = 4
    response_format: str = "auto"  # auto | json_schema | json_object


def api_key_from_env() -> str:
    # Self-hosted servers (vLLM, Ollama, llama.cpp) need no key, but the client insists on one.
    return os.environ.get("OPENAI_API_KEY") or "not-needed"


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    retries: int


class ProviderError(Exception):
    """The call still failed after its retries; the message says why, without any secret."""


class SendingStopped(Exception):
    """The run's budget is spent: the request was not sent."""


class ContextOverflow(ProviderError):
    """The prompt does not fit the model's context window: retrying it unchanged cannot help."""


def _rejects_json_schema(error: openai.APIStatusError) -> bool:
    """True when a server refused the request because it does not know `json_schema`."""
    text = str(error).lower()
    return error.status_code in (400, 415, 422, 500, 501) and ("json_schema" in text or "response_format" in text)


def _is_context_overflow(error: openai.APIStatusError) -> bool:
    text = str(error).lower()
    return error.status_code in (400, 413) and (
        "context_length" in text or "context length" in text or "too many tokens" in text
    )


def _backoff(attempt: int) -> float:
    # Full jitter: concurrent requests that failed together don't all come back together.
    return random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt))


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """About four characters a token: enough for admission control, not for billing."""
    return sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages)


class MalformedResponse(Exception):
    """A 200 answer whose body is not a chat completion."""


def _completion_from_body(content: bytes, requested_model: str, retries: int) -> Completion:
    try:
        body = orjson.loads(content)
        usage = body.get("usage") or {}
        return Completion(
            content=body["choices"][0]["message"].get("content") or "",
            model=body.get("model") or requested_model,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            retries=retries,
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise MalformedResponse(f"malformed completion body: {content[:120]!r}") from None


class StructuredClient:
    """One per event loop: the underlying HTTP connection pool belongs to the loop that made it."""

    def __init__(self, endpoint: Endpoint, limiter: RateLimiter, stop_reason: Callable[[], str | None] = lambda: None):
        if endpoint.response_format not in RESPONSE_FORMATS:
            raise ValueError(
                f"AI_ASSETS_RESPONSE_FORMAT must be one of {RESPONSE_FORMATS}, not {endpoint.response_format!r}"
            )
        self.model = endpoint.model
        self.max_retries = endpoint.max_retries
        self.limiter = limiter
        # Asked right before each send (after waiting for a slot), so a budget spent while a
        # request waited stops it too.
        self.stop_reason = stop_reason
        self._client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=api_key_from_env(),
            timeout=endpoint.timeout_s,
            max_retries=0,
        )
        self._mode = "json_schema" if endpoint.response_format == "auto" else endpoint.response_format
        self._may_fall_back = endpoint.response_format == "auto"

    def _response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        if self._mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
        return {"type": "json_object", "schema": schema}

    async def complete_json(
        self,
        messages: list[dict[str, str]],
        *,
        schema_name: str,
        schema: dict[str, Any],
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        estimate = estimate_tokens(messages) + max_tokens
        attempt = 0  # retries so far; a json_schema -> json_object fallback is not one
        while True:
            await self.limiter.acquire(estimate)
            used, delay = 0, 0.0
            if (reason := self.stop_reason()) is not None:
                await self.limiter.release(refund_tokens=estimate)
                raise SendingStopped(reason)
            try:
                raw = await self._client.chat.completions.with_raw_response.create(
                    model=self.model,
                    messages=messages,
                    response_format=self._response_format(schema_name, schema),
                    temperature=temperature,
                    max_tokens=max_tokens,
                )
                # The body as plain JSON: building the client's pydantic response models costs more
                # CPU than the rest of a request, and at hundreds of requests/s that is the limit.
                completion = _completion_from_body(raw.http_response.content, self.model, attempt)
                used = completion.prompt_tokens + completion.completion_tokens or estimate
                self.limiter.on_success(raw.headers)
                return completion
            except MalformedResponse as error:
                # A proxy's error page or a truncated body: treated like a 5xx.
                if attempt == self.max_retries:
                    raise ProviderError(f"{error} after {attempt} retries") from None
                delay = _backoff(attempt)
            except openai.APIStatusError as error:
                if self._may_fall_back and self._mode == "json_schema" and _rejects_json_schema(error):
                    self._mode, self._may_fall_back = "json_object", False
                    continue  # at once, and without counting a retry
                if _is_context_overflow(error):
                    raise ContextOverflow(f"HTTP {error.status_code}: {error.message[:300]}") from None
                retryable = error.status_code in _RETRYABLE_STATUS or error.status_code >= 500
                if not retryable or attempt == self.max_retries:
                    raise ProviderError(
                        f"HTTP {error.status_code} after {attempt} retries: {error.message[:300]}"
                    ) from None
                told = retry_after_seconds(error.response.headers)
                delay = told if told is not None else _backoff(attempt)
                if error.status_code == 429:
                    self.limiter.on_rate_limited(delay)
            except (TimeoutError, openai.APIConnectionError) as error:
                if attempt == self.max_retries:
                    raise ProviderError(f"{type(error).__name__} after {attempt} retries: {str(error)[:300]}") from None
                delay = _backoff(attempt)
            finally:
                # The unused part of the estimate goes back to the tokens-per-minute bucket.
                await self.limiter.release(refund_tokens=estimate - used if used else 0)
            await asyncio.sleep(delay)
            attempt += 1

    async def close(self) -> None:
        await self._client.close()
