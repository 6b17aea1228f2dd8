"""Structured chat completions and embeddings against any OpenAI-compatible endpoint, through one
request loop: rate limits, budget, retries, cost and metrics are the same for both.

Retries are ours, not the `openai` client's, so that a 429 can pause every request of the step
(see `ratelimit.py`): 408/409/429/5xx, timeouts and connection errors are retried with
exponential backoff and jitter, or after the server's `Retry-After` when it gives one.
Structured output uses `json_schema` where the server supports it, else `json_object` with the
schema attached, which llama.cpp's server turns into a grammar.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np
import openai
import orjson

from ai_assets.llm.cost import Pricing
from ai_assets.llm.limits import Limits
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.ratelimit import retry_after_seconds
from ai_assets.secrets import scrub_secrets

RESPONSE_FORMATS = ("auto", "json_schema", "json_object")
_RETRYABLE_STATUS = {408, 409, 429}
_BACKOFF_BASE_S, _BACKOFF_CAP_S = 0.5, 30.0
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"  # what the openai client calls when no base_url is set
T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call the model. Holds no secret: the key comes from OPENAI_API_KEY."""

    base_url: str | None
    model: str
    timeout_s: float = 60.0
    max_retries: int = 4
    response_format: str = "auto"  # auto | json_schema | json_object (chat only)


def api_key_from_env() -> str:
    # Self-hosted servers (vLLM, Ollama, llama.cpp) need no key, but the client insists on one.
    return os.environ.get("OPENAI_API_KEY") or "not-needed"


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float = 0.0  # from the first attempt to the answer, waits and retries included


@dataclass(frozen=True)
class ToolTurn:
    """An assistant turn of a chat with tools: its text and the calls it asks for."""

    content: str
    tool_calls: tuple[dict[str, str], ...]  # {"id", "name", "arguments" (JSON text)}, as the model wrote them
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float = 0.0


class ProviderError(Exception):
    """The call still failed after its retries; the message says why, without any secret."""


class CircuitOpen(ProviderError):
    """The step's circuit breaker is open: the request was not sent (see `breaker.py`)."""


class SendingStopped(Exception):
    """The run's budget is spent: the request was not sent."""


class ContextOverflow(ProviderError):
    """The prompt does not fit the model's context window: retrying it unchanged cannot help."""


class MalformedResponse(Exception):
    """A 200 answer whose body is not what the endpoint promises."""


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


def estimate_tokens(texts: Collection[str]) -> int:
    """About four characters a token, plus a few a text: enough for admission control, not for billing."""
    return sum(map(len, texts)) // 4 + 4 * len(texts)


def _completion_from_body(content: bytes, requested_model: str) -> Completion:
    try:
        body = orjson.loads(content)
        usage = body.get("usage") or {}
        return Completion(
            content=body["choices"][0]["message"].get("content") or "",
            model=body.get("model") or requested_model,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise MalformedResponse(f"malformed completion body: {content[:120]!r}") from None


def _turn_from_body(content: bytes, requested_model: str) -> ToolTurn:
    try:
        body = orjson.loads(content)
        message = body["choices"][0]["message"]
        usage = body.get("usage") or {}
        calls = tuple(
            {
                "id": str(call.get("id") or f"call_{n}"),
                "name": str(call["function"]["name"]),
                "arguments": str(call["function"].get("arguments") or "{}"),
            }
            for n, call in enumerate(message.get("tool_calls") or [], 1)
        )
        return ToolTurn(
            content=message.get("content") or "",
            tool_calls=calls,
            model=body.get("model") or requested_model,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise MalformedResponse(f"malformed completion body: {content[:120]!r}") from None


def _vectors_from_body(content: bytes, count: int) -> tuple[np.ndarray, int]:
    """(float32 array of shape (count, dim), prompt tokens) from an embeddings answer."""
    try:
        body = orjson.loads(content)
        items = sorted(body["data"], key=lambda item: item["index"])
        vectors = [
            # base64 little-endian float32 when the server honours encoding_format, else a list
            np.frombuffer(base64.b64decode(e), dtype="<f4") if isinstance(e, str) else np.asarray(e, dtype=np.float32)
            for e in (item["embedding"] for item in items)
        ]
        if len(vectors) != count:
            raise ValueError
        prompt_tokens = int((body.get("usage") or {}).get("prompt_tokens") or 0)
        return np.stack(vectors).astype(np.float32, copy=False), prompt_tokens
    except (orjson.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise MalformedResponse(f"malformed embeddings body ({count} inputs): {content[:120]!r}") from None


class _Reply(NamedTuple, Generic[T]):
    value: T
    prompt_tokens: int
    completion_tokens: int
    headers: Mapping[str, str]


class ModelClient:
    """Chat completions and embeddings for one step, under the step's limits, budget and pricing;
    every answered request is counted in `metrics`.

    One per event loop: the underlying HTTP connection pool belongs to the loop that made it."""

    def __init__(self, endpoint: Endpoint, limits: Limits, pricing: Pricing, metrics: StepMetrics):
        if endpoint.response_format not in RESPONSE_FORMATS:
            raise ValueError(
                f"AI_ASSETS_RESPONSE_FORMAT must be one of {RESPONSE_FORMATS}, not {endpoint.response_format!r}"
            )
        self.model = endpoint.model
        self.max_retries = endpoint.max_retries
        self.url = endpoint.base_url or OPENAI_DEFAULT_URL
        # The cluster's pool: per endpoint, model and limits (steps with other limits keep their own).
        pool = f"c{limits.concurrency} rpm{limits.requests_per_minute} tpm{limits.tokens_per_minute}"
        self.limiter = limits.rate_limiter(f"{self.url} {self.model} {pool}")
        self.budget = limits.budget()
        self.breaker = limits.breaker(self.url)
        self._probe = asyncio.Lock()  # held by the request probing the endpoint (see `_send`)
        self.pricing = pricing
        self.metrics = metrics
        self._client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=api_key_from_env(),
            timeout=endpoint.timeout_s,
            max_retries=0,
        )
        self._mode = "json_schema" if endpoint.response_format == "auto" else endpoint.response_format
        self._auto_format = endpoint.response_format == "auto"

    async def complete_json(
        self,
        messages: list[dict[str, str]],
        *,
        schema_name: str,
        schema: dict[str, Any],
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        async def send() -> _Reply[Completion]:
            raw = await self._create_chat(messages, schema_name, schema, temperature, max_tokens)
            # The body as plain JSON: building the client's pydantic response models costs more
            # CPU than the rest of a request, and at hundreds of requests/s that is the limit.
            completion = _completion_from_body(raw.http_response.content, self.model)
            return _Reply(completion, completion.prompt_tokens, completion.completion_tokens, raw.headers)

        estimate = estimate_tokens([m["content"] for m in messages]) + max_tokens
        completion, latency_ms = await self._send(send, estimate)
        return replace(completion, latency_ms=latency_ms)

    async def complete_with_tools(
        self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]], temperature: float, max_tokens: int
    ) -> ToolTurn:
        """One turn of a chat with native tool calling (the `tools` parameter), through the same
        request loop as every other call."""

        async def send() -> _Reply[ToolTurn]:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=self.model, messages=messages, tools=tools, temperature=temperature, max_tokens=max_tokens
            )
            turn = _turn_from_body(raw.http_response.content, self.model)
            return _Reply(turn, turn.prompt_tokens, turn.completion_tokens, raw.headers)

        estimate = estimate_tokens([str(m.get("content") or "") for m in messages]) + max_tokens
        turn, latency_ms = await self._send(send, estimate)
        return replace(turn, latency_ms=latency_ms)

    async def embed(self, texts: list[str]) -> np.ndarray:
        """float32 vectors of shape (len(texts), dim), in the order of `texts`, from one request (and its retries)."""

        async def send() -> _Reply[np.ndarray]:
            # base64, as the openai client asks by default: about a third of the bytes of JSON floats.
            raw = await self._client.embeddings.with_raw_response.create(
                model=self.model, input=texts, encoding_format="base64"
            )
            vectors, prompt_tokens = _vectors_from_body(raw.http_response.content, len(texts))
            return _Reply(vectors, prompt_tokens, 0, raw.headers)

        vectors, _ = await self._send(send, estimate_tokens(texts))
        return vectors

    def _response_format(self, mode: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        if mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
        return {"type": "json_object", "schema": schema}

    async def _create_chat(
        self, messages: list[dict[str, str]], name: str, schema: dict[str, Any], temperature: float, max_tokens: int
    ) -> Any:
        mode = self._mode

        def create(mode: str) -> Awaitable[Any]:
            return self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages,
                response_format=self._response_format(mode, name, schema),
                temperature=temperature,
                max_tokens=max_tokens,
            )

        try:
            return await create(mode)
        except openai.APIStatusError as error:
            if not (self._auto_format and mode == "json_schema" and _rejects_json_schema(error)):
                raise
        # The server does not know json_schema: json_object from now on, at once and not counted as
        # a retry (requests sent concurrently in json_schema mode come here too).
        self._mode = "json_object"
        return await create("json_object")

    async def _send(self, send: Callable[[], Awaitable[_Reply[T]]], estimate: int) -> tuple[T, float]:
        """`_request`, but one at a time until the endpoint has answered once in this step: the first
        request probes it alone, so a wrong key or a dead endpoint costs that request and its retries
        instead of one per concurrency slot. When the probe fails for good, the next waiting request
        becomes the probe (a 5xx may belong to that row alone) unless the breaker opened."""
        if not self.breaker.answered:
            async with self._probe:
                if not self.breaker.answered:
                    return await self._request(send, estimate)
        return await self._request(send, estimate)

    async def _request(self, send: Callable[[], Awaitable[_Reply[T]]], estimate: int) -> tuple[T, float]:
        """The one request loop: (the answer, its latency in ms). Each attempt waits for a slot of the
        limiter, then asks the budget right before sending (so a budget spent while it waited stops
        it too), and retries what a retry can fix. An answered request is priced, charged to the
        budget and counted in the metrics."""
        attempt = 0
        while True:
            if self.breaker.open:
                raise CircuitOpen(f"not sent: {self.breaker.reason}")
            await self.limiter.acquire(estimate)
            if self.budget.exhausted:
                await self.limiter.release(refund_tokens=estimate)
                raise SendingStopped(self.budget.describe())
            used, delay = 0, 0.0
            try:
                self.metrics.requests += 1
                sent = time.perf_counter()
                reply = await send()
                answered = time.perf_counter()
                used = reply.prompt_tokens + reply.completion_tokens or estimate
                self.limiter.on_success(reply.headers)
                self.breaker.record_success()
                break
            except MalformedResponse as error:
                # A proxy's error page or a truncated body: treated like a 5xx.
                if attempt == self.max_retries:
                    raise self._failed(200, f"{error} after {attempt} retries") from None
                delay = _backoff(attempt)
            except openai.APIStatusError as error:
                if _is_context_overflow(error):
                    self.breaker.record_success()  # the endpoint works; this prompt is too long for it
                    raise ContextOverflow(f"HTTP {error.status_code}: {scrub_secrets(error.message[:300])}") from None
                retryable = error.status_code in _RETRYABLE_STATUS or error.status_code >= 500
                if not retryable or attempt == self.max_retries:
                    raise self._failed(
                        error.status_code, f"HTTP {error.status_code} after {attempt} retries: {error.message[:300]}"
                    ) from None
                told = retry_after_seconds(error.response.headers)
                delay = told if told is not None else _backoff(attempt)
                if error.status_code == 429:
                    self.limiter.on_rate_limited(delay)
                    self.metrics.rate_limited += 1
            except (TimeoutError, openai.APIConnectionError) as error:
                if attempt == self.max_retries:
                    raise self._failed(
                        None, f"{type(error).__name__} after {attempt} retries: {str(error)[:300]}"
                    ) from None
                delay = _backoff(attempt)
            finally:
                # The unused part of the estimate goes back to the tokens-per-minute bucket.
                await self.limiter.release(refund_tokens=estimate - used if used else 0)
            await asyncio.sleep(delay)
            attempt += 1
        # The provider's latency: the answered request alone, not the slot it waited for or the retries.
        latency_ms = (answered - sent) * 1000
        cost = self.pricing.cost_usd(reply.prompt_tokens, reply.completion_tokens)
        self.metrics.record_call(
            retries=attempt,
            latency_ms=latency_ms,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=cost,
        )
        self.budget.charge(reply.prompt_tokens + reply.completion_tokens, cost)
        return reply.value, latency_ms

    def _failed(self, status: int | None, description: str) -> ProviderError:
        """The error for a request that failed for good, counted by the breaker; its text scrubbed of
        anything like a key (some servers echo the request, Authorization header included)."""
        description = scrub_secrets(description)
        self.breaker.record_failure(status, description)
        return ProviderError(description)

    async def close(self) -> None:
        await self._client.close()
        await self.limiter.aclose()
