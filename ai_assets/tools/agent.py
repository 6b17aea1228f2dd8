"""The bounded investigation loop: per ticket, the model calls tools through the endpoint's native
tool calling until it answers without a call or the ticket's call budget is spent.

Every turn is cached by everything that changes it (model, tools, the messages so far, tool
results included), and every tool answer by `ToolBox.key`, so an unchanged rerun replays each
ticket's conversation without a request or a backend call. Where the endpoint cannot call tools
(the embedded model, or AI_ASSETS_TOOL_CALLING=plan), or the model fails for a ticket, the
deterministic plan runs instead: the calls the triage implies (an order id -> `order_status`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from ai_assets.llm.cache import CachedResponse, CacheKeys, ResponseCache
from ai_assets.llm.client import Endpoint, ModelClient, ProviderError, SendingStopped, ToolTurn
from ai_assets.llm.cost import Pricing
from ai_assets.llm.limits import Limits
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.redaction import redact_text
from ai_assets.llm.task import PromptTemplate
from ai_assets.tools.registry import TicketScope, ToolBox, ToolCall

NATIVE, PLAN = "native", "plan"


@dataclass(frozen=True)
class AgentTask:
    prompt: PromptTemplate
    temperature: float = 0.0
    max_tokens: int = 300

    def prompt_version(self, toolbox: ToolBox) -> str:
        """Of the prompt, the tools offered, the budget and the sampling parameters."""
        material = json.dumps(
            [
                self.prompt.system,
                self.prompt.user,
                toolbox.version(),
                toolbox.max_calls,
                self.temperature,
                self.max_tokens,
            ]
        )
        return f"{self.prompt.name}@{hashlib.sha256(material.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Subject:
    """A ticket to investigate: its key, its scope, its rendered prompt and its plan."""

    row_key: str
    scope: TicketScope
    user: str
    plan: tuple[tuple[str, str], ...]  # (tool, arguments JSON): the calls the triage implies


@dataclass
class Investigation:
    mode: str
    calls: list[ToolCall] = field(default_factory=list)
    note: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = True
    fallback: str | None = None  # why the plan replaced the model for this ticket


ProgressCallback = Callable[[int, StepMetrics], None]


@dataclass
class _Loop:
    toolbox: ToolBox
    task: AgentTask
    client: ModelClient | None
    cache: ResponseCache
    keys: CacheKeys
    pricing: Pricing
    redact: Callable[[str], str]  # on tool results before a model sees them (remote endpoints)

    async def run_plan(self, subject: Subject, investigation: Investigation) -> Investigation:
        made = {(c.tool, c.arguments) for c in investigation.calls}
        for tool, arguments in subject.plan:
            if (tool, arguments) not in made:
                call = await asyncio.to_thread(
                    self.toolbox.call, subject.scope, tool, arguments, len(investigation.calls)
                )
                investigation.calls.append(call)
        return investigation

    async def run_native(self, subject: Subject) -> Investigation:
        investigation = Investigation(NATIVE)
        messages: list[dict] = [*self.task.prompt.messages(subject.user)]
        try:
            for _ in range(self.toolbox.max_calls + 1):
                turn = await self._turn(messages, investigation)
                if not turn.tool_calls:
                    investigation.note = turn.content.strip()[:1000] or None
                    break
                messages.append(_assistant_message(turn))
                for requested in turn.tool_calls:
                    call = await asyncio.to_thread(
                        self.toolbox.call,
                        subject.scope,
                        requested["name"],
                        requested["arguments"],
                        len(investigation.calls),
                    )
                    investigation.calls.append(call)
                    answer = self.redact(call.for_model())
                    messages.append({"role": "tool", "tool_call_id": requested["id"], "content": answer})
                if len(investigation.calls) >= self.toolbox.max_calls:
                    break
        except (ProviderError, SendingStopped) as error:
            investigation.mode, investigation.fallback = PLAN, f"model failed, plan used instead: {error}"[:500]
            return await self.run_plan(subject, investigation)
        return investigation

    async def _turn(self, messages: list[dict], investigation: Investigation) -> ToolTurn:
        key = self.keys.key(orjson.dumps(messages).decode())
        cached = self.cache.get_many([key]).get(key)
        if cached is not None:
            answer = json.loads(cached.content)
            turn = ToolTurn(
                answer["content"],
                tuple(answer["tool_calls"]),
                cached.model,
                cached.prompt_tokens,
                cached.completion_tokens,
            )
        else:
            if self.client is None:
                raise ProviderError("no endpoint")
            turn = await self.client.complete_with_tools(
                messages, tools=self.toolbox.specs(), temperature=self.task.temperature, max_tokens=self.task.max_tokens
            )
            content = json.dumps({"content": turn.content, "tool_calls": list(turn.tool_calls)})
            self.cache.put(key, CachedResponse(content, turn.model, turn.prompt_tokens, turn.completion_tokens))
            investigation.cache_hit = False
            investigation.cost_usd += self.pricing.cost_usd(turn.prompt_tokens, turn.completion_tokens)
        investigation.model = turn.model
        investigation.prompt_tokens += turn.prompt_tokens
        investigation.completion_tokens += turn.completion_tokens
        return turn


def _assistant_message(turn: ToolTurn) -> dict:
    return {
        "role": "assistant",
        "content": turn.content or None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in turn.tool_calls
        ],
    }


async def investigate_async(
    subjects: Sequence[Subject],
    toolbox: ToolBox,
    *,
    native: bool,
    task: AgentTask,
    endpoint: Endpoint,
    cache: ResponseCache,
    limits: Limits,
    pricing: Pricing,
    redact_pii: bool = False,
    on_progress: ProgressCallback | None = None,
    progress_every_s: float = 10.0,
) -> tuple[dict[str, Investigation], StepMetrics]:
    """One investigation per subject, by row key, and the step's model metrics."""
    started = last_report = time.monotonic()
    metrics = StepMetrics(rows=len(subjects))
    keys = CacheKeys(
        endpoint.model,
        task.prompt.system,
        {"tools": toolbox.specs()},
        {"temperature": task.temperature, "max_tokens": task.max_tokens, "max_calls": toolbox.max_calls},
    )
    client = ModelClient(endpoint, limits, pricing, metrics) if native and subjects else None
    loop = _Loop(toolbox, task, client, cache, keys, pricing, redact_text if redact_pii else lambda text: text)
    slots = asyncio.Semaphore(max(1, limits.concurrency))
    results: dict[str, Investigation] = {}

    async def investigate(subject: Subject) -> None:
        nonlocal last_report
        async with slots:
            if native:
                results[subject.row_key] = await loop.run_native(subject)
            else:
                results[subject.row_key] = await loop.run_plan(subject, Investigation(PLAN))
        if on_progress and time.monotonic() - last_report >= progress_every_s:
            last_report = time.monotonic()
            on_progress(len(results), metrics)

    try:
        await asyncio.gather(*(investigate(s) for s in subjects))
    finally:
        if client is not None:
            await client.close()
    metrics.cache_hits = sum(1 for i in results.values() if i.mode == NATIVE and i.cache_hit)
    metrics.wall_s = time.monotonic() - started
    if client is not None:
        metrics.stop(client.breaker.reason, for_good=not client.breaker.retry_can_help)
    if on_progress:
        on_progress(len(results), metrics)
    return results, metrics


def investigate(
    subjects: Sequence[Subject], toolbox: ToolBox, **kwargs
) -> tuple[dict[str, Investigation], StepMetrics]:
    """Synchronous entry point (Dagster ops and scripts); see `investigate_async`."""
    return asyncio.run(investigate_async(subjects, toolbox, **kwargs))
