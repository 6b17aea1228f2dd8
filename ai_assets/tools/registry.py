"""The tool registry: which tools exist, what each may be asked, and what happened to every call.

A tool is a typed function: a pydantic model of its arguments (its JSON schema is what a model
sees in the chat `tools` parameter) over a real backend. Every call goes through `ToolBox.call`,
which is where the rules hold whatever a ticket's text made the model ask:

- only tools of the allow-list (`vocabulary.TOOL_NAMES`) run; any other name is refused;
- arguments must validate against the tool's model, or the call is refused;
- a call outside the ticket's scope (another customer) is refused before any backend sees it;
- at most `max_calls` calls per ticket; the rest are recorded `over_budget` and not run;
- a backend failure (`ToolUnavailable`) is a recorded `error`, never an exception: the facts say
  the system was unavailable and the run goes on;
- answers (`ok`, `not_found`) are cached by tool, backend, data version, arguments and scope, so an
  unchanged rerun calls no backend. Errors are not cached: the next run asks again. A backend with
  no data version (None: a live system such as the order service) is not cached across runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ai_assets.llm.cache import StateCache
from ai_assets.quality.vocabulary import TOOL_NAMES
from ai_assets.secrets import scrub_secrets
from ai_assets.tools.orders import ToolUnavailable

OK, NOT_FOUND, ERROR, REFUSED, OVER_BUDGET = "ok", "not_found", "error", "refused", "over_budget"
_CACHED = (OK, NOT_FOUND)


class OutOfScope(Exception):
    """The call asks about something outside the ticket it investigates."""


@dataclass(frozen=True)
class TicketScope:
    """What an investigation may touch: its ticket's customer, as of the ticket's day."""

    ticket_id: str
    customer_id: str
    day: date


@dataclass(frozen=True)
class ToolCall:
    """One call as it happened (a `tool_calls` row without the ticket's keys)."""

    tool: str
    arguments: str
    status: str
    result: str | None = None  # JSON
    error: str | None = None
    latency_ms: float = 0.0
    cache_hit: bool = False

    def for_model(self) -> str:
        """What the model is told the call returned."""
        if self.status in _CACHED:
            return self.result or "{}"
        return json.dumps({"error": self.error or self.status})


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    # (scope, arguments) -> (ok | not_found, a JSON-able result); raises ToolUnavailable or OutOfScope
    run: Callable[[TicketScope, Any], tuple[str, Any]]
    version: str  # the backend: another backend, another cache key
    # What the backend holds for the scope: changed data, another cache key. None: the backend
    # cannot say (a live system), so its answers are not cached across runs.
    data_version: Callable[[TicketScope], str | None] = lambda scope: ""

    def spec(self) -> dict[str, Any]:
        """The tool as the chat `tools` parameter describes it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.arguments.model_json_schema(),
            },
        }


class ToolCache(StateCache):
    """Tool answers by call key (see `ToolBox.key`)."""

    def __init__(self, location: Path | str):
        super().__init__(location, "tool_answers", {"status": "TEXT", "result": "TEXT"})


class ToolBox:
    def __init__(self, tools: Sequence[Tool], cache: ToolCache | None, max_calls: int):
        unknown = [t.name for t in tools if t.name not in TOOL_NAMES]
        if unknown:
            raise ValueError(f"tools {unknown} are not in the allow-list {TOOL_NAMES}")
        self.tools = {tool.name: tool for tool in tools}
        self.cache = cache
        self.max_calls = max_calls
        self._cache_lock = threading.Lock()  # calls run in worker threads; one SQLite connection

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self.tools.values()]

    def version(self) -> str:
        """Of the tools' interface and backends: part of the investigation's prompt version."""
        material = json.dumps([[t.spec(), t.version] for t in self.tools.values()], sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()[:12]

    @staticmethod
    def key(tool: Tool, scope: TicketScope, arguments: BaseModel, data_version: str) -> str:
        material = [
            tool.name,
            tool.version,
            data_version,
            arguments.model_dump(mode="json"),
            scope.customer_id,
            scope.day.isoformat(),
        ]
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def call(self, scope: TicketScope, name: str, arguments: str, calls_made: int) -> ToolCall:
        """Runs one call the model (or the plan) asked for, under the rules above. `calls_made`: the
        ticket's calls so far, refused ones included."""
        if calls_made >= self.max_calls:
            return ToolCall(name, arguments, OVER_BUDGET, error=f"not run: {self.max_calls} tool calls per ticket")
        tool = self.tools.get(name)
        if tool is None:
            return ToolCall(
                name, arguments, REFUSED, error=f"no tool {name[:60]!r}: the tools are {sorted(self.tools)}"
            )
        try:
            parsed = tool.arguments.model_validate_json(arguments or "{}")
        except ValidationError as invalid:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in invalid.errors())
            return ToolCall(name, arguments, REFUSED, error=f"invalid arguments: {problems[:300]}")
        data_version = tool.data_version(scope)
        cache = self.cache if data_version is not None else None
        key = self.key(tool, scope, parsed, data_version or "")
        if cache is not None:
            with self._cache_lock:
                hit = cache.get_rows([key]).get(key)
            if hit is not None:
                return ToolCall(name, arguments, hit[0], result=hit[1], cache_hit=True)
        started = time.perf_counter()
        try:
            status, result = tool.run(scope, parsed)
        except OutOfScope as refused:
            return ToolCall(name, arguments, REFUSED, error=str(refused))
        except ToolUnavailable as failed:
            return ToolCall(name, arguments, ERROR, error=scrub_secrets(str(failed))[:500], latency_ms=_since(started))
        answer = json.dumps(result, ensure_ascii=False, default=str)
        if cache is not None:
            with self._cache_lock:
                cache.put_rows({key: (status, answer)})
        return ToolCall(name, arguments, status, result=answer, latency_ms=_since(started))


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
