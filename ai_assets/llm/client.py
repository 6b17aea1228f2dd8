"""Structured chat completions against any OpenAI-compatible endpoint.

Retries with exponential backoff on 408/409/429/5xx, timeouts and connection errors are the
`openai` client's own (it honours `Retry-After`); this module adds the choice of structured-output
mode: `json_schema` where the server supports it, else `json_object` with the schema attached,
which llama.cpp's server turns into a grammar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import openai

RESPONSE_FORMATS = ("auto", "json_schema", "json_object")


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    retries: int


def _rejects_json_schema(error: openai.APIStatusError) -> bool:
    """True when a server refused the request because it does not know `json_schema`."""
    text = str(error).lower()
    return error.status_code in (400, 415, 422, 500, 501) and ("json_schema" in text or "response_format" in text)


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call the model. Holds no secret: the key comes from OPENAI_API_KEY."""

    base_url: str | None
    model: str
    timeout_s: float = 60.0
    max_retries: int = 4
    response_format: str = "auto"  # auto | json_schema | json_object


class StructuredClient:
    """One per event loop: the underlying HTTP connection pool belongs to the loop that made it."""

    def __init__(self, endpoint: Endpoint):
        if endpoint.response_format not in RESPONSE_FORMATS:
            raise ValueError(
                f"AI_ASSETS_RESPONSE_FORMAT must be one of {RESPONSE_FORMATS}, not {endpoint.response_format!r}"
            )
        self.model = endpoint.model
        self._client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            # Self-hosted servers (vLLM, Ollama, llama.cpp) need no key, but the client insists on one.
            api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=endpoint.timeout_s,
            max_retries=endpoint.max_retries,
        )
        self._mode = "json_schema" if endpoint.response_format == "auto" else endpoint.response_format
        self._may_fall_back = endpoint.response_format == "auto"

    @property
    def mode(self) -> str:
        return self._mode

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
        try:
            return await self._create(messages, schema_name, schema, temperature, max_tokens)
        except openai.APIStatusError as error:
            if not (self._may_fall_back and self._mode == "json_schema" and _rejects_json_schema(error)):
                raise
            self._mode, self._may_fall_back = "json_object", False
            return await self._create(messages, schema_name, schema, temperature, max_tokens)

    async def _create(self, messages, schema_name, schema, temperature, max_tokens) -> Completion:
        raw = await self._client.chat.completions.with_raw_response.create(
            model=self.model,
            messages=messages,
            response_format=self._response_format(schema_name, schema),
            temperature=temperature,
            max_tokens=max_tokens,
        )
        response = raw.parse()
        usage = response.usage
        return Completion(
            content=response.choices[0].message.content or "",
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            retries=raw.retries_taken,
        )

    async def close(self) -> None:
        await self._client.close()

