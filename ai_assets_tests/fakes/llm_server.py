"""A fake OpenAI-compatible LLM server for tests.

It stands in for an LLM provider at the network boundary: the code under test
talks real HTTP (via the real ``openai`` client) to 127.0.0.1, so retries,
timeouts, error mapping and JSON parsing are exercised exactly as in
production, without a network, an API key or a model.

Standard library only, so the test suite has no extra dependencies.

Usage::

    with FakeLLMServer(latency=0.05) as server:
        server.inject(Fault(status=429, retry_after=0))
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=2)
        ...
        assert server.call_count == 2

Endpoints:
    GET  /v1/models             the one model (``model_name``)
    POST /v1/chat/completions   non-streaming chat.completion; faults apply here only
    POST /v1/embeddings         deterministic 256-dim bag-of-words unit vectors (float or base64):
                                texts sharing words are close, so retrieval works lexically
    GET  /stats                 counters as JSON, for a benchmark in another process
    POST /reset                 reset_stats()

Standalone (for benchmarks; serves with keep-alive until SIGTERM/SIGINT)::

    python -m ai_assets_tests.fakes.llm_server --port 0 --latency 0.1 --ready-file /tmp/url
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import itertools
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Fault", "FakeLLMServer", "default_responder"]

JSON_SCHEMA_REJECTED = "response_format type json_schema is not supported; use json_object"


@dataclass
class Fault:
    """One injected misbehaviour, consumed by (at most) one chat-completions request.

    Effects are applied in this order: ``delay``, then ``drop_connection``,
    then ``status`` (error answer), then ``content`` (200 with that content).
    A fault with only ``delay`` set answers normally after the delay.
    """

    status: int | None = None  # answer with this HTTP status and an OpenAI-style error body
    retry_after: float | None = None  # Retry-After header (seconds) on the error answer
    delay: float = 0.0  # sleep before answering (to provoke client timeouts)
    content: str | None = None  # answer 200 with exactly this message content
    drop_connection: bool = False  # close the socket without any answer
    match: str | None = None  # only for requests whose messages' text contains this substring
    headers: dict[str, str] | None = None  # extra headers on whatever answer the request gets

    def applies_to(self, text: str) -> bool:
        return self.match is None or self.match in text


# OpenAI error ``type``/``code`` per status, so client-side error mapping sees realistic bodies.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    408: ("timeout_error", None),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}


def _error_body(status: int, message: str | None = None) -> dict:
    kind, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    if message is None:
        try:
            message = f"Injected fault: {status} {HTTPStatus(status).phrase}"
        except ValueError:
            message = f"Injected fault: {status}"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _approx_tokens(text: str) -> int:
    # Real tokenizers average ~4 characters per token for English; good enough for usage accounting.
    return math.ceil(len(text) / 4)


def _context_exceeded_body(limit: int, tokens: int) -> dict:
    # OpenAI's wording and code, so clients can detect it the way they would in production.
    message = (
        f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages."
    )
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _messages(body: dict) -> list[dict]:
    msgs = body.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


# The triage cascade's few-shot examples (defs/triage/cascade.py) before a ticket: a model
# answers for the ticket, and a fault keyed to a ticket's text hits that ticket, not the tickets
# it is shown to as an example.
_EXAMPLE_BLOCK = re.compile(r"Labelled ticket similar to this one:\n<<<EXAMPLE\n.*?\nEXAMPLE>>>\n[^\n]*\n\n", re.S)


def _all_text(body: dict) -> str:
    return _EXAMPLE_BLOCK.sub("", "\n".join(_content_text(m.get("content")) for m in _messages(body)))


def _last_user_text(body: dict) -> str:
    users = [m for m in _messages(body) if m.get("role") == "user"]
    return _EXAMPLE_BLOCK.sub("", _content_text(users[-1].get("content"))) if users else ""


# --------------------------------------------------------------------------------------
# Default responder: schema-driven filler with a keyword heuristic for ticket triage.
# --------------------------------------------------------------------------------------

# Order matters: ties are broken in this table order.
_CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "billing": ("charge", "charged", "invoice", "refund", "payment", "bill"),
    "shipping": ("delivery", "shipped", "tracking", "package", "courier", "arrive"),
    "returns": ("return", "exchange", "rma", "send back"),
    "technical": ("error", "crash", "bug", "not working", "app", "login fails", "firmware"),
    "account": ("password", "account", "email change", "delete my account", "2fa", "sign in"),
    "feedback": ("love", "suggestion", "feedback", "great", "thanks"),
}
_ANGRY = ("angry", "unacceptable", "terrible", "annoyed", "furious", "worst", "😡")
_HAPPY = ("love", "great", "thanks", "thank you", "awesome")
_LANGUAGE_WORDS: dict[str, frozenset[str]] = {
    "es": frozenset(
        [
            "hola",
            "gracias",
            "pedido",
            "por",
            "favor",
            "quiero",
            "ayuda",
            "tengo",
            "cuenta",
            "factura",
            "envío",
            "llegó",
            "está",
            "mi",
            "pero",
        ]
    ),
    "de": frozenset(
        [
            "hallo",
            "danke",
            "bitte",
            "bestellung",
            "ich",
            "nicht",
            "mein",
            "meine",
            "ist",
            "und",
            "rechnung",
            "lieferung",
            "konto",
            "habe",
        ]
    ),
    "fr": frozenset(
        [
            "bonjour",
            "merci",
            "commande",
            "je",
            "ne",
            "pas",
            "mon",
            "suis",
            "facture",
            "livraison",
            "compte",
            "vous",
            "avec",
        ]
    ),
}


@functools.cache
def _keyword_re(keyword: str) -> re.Pattern[str]:
    # Compiled once per keyword: the heuristics run ~40 searches per answered item.
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?:s|es|d|ed|ing|ly)?(?!\w)")


def _has(text: str, keyword: str) -> bool:
    """Whole-word(-ish) keyword match.

    Word boundaries keep "app" out of "happy"/"appreciate" and "rma" out of "format";
    the optional inflection suffix lets "refund" match "refunded" and "arrive" "arrived".
    Keywords that are not words (emoji) are plain substrings.
    """
    if not keyword[0].isalnum():
        return keyword in text
    return _keyword_re(keyword).search(text) is not None


def _category(text: str) -> str:
    hits = {cat: sum(_has(text, kw) for kw in kws) for cat, kws in _CATEGORY_KEYWORDS.items()}
    best = max(hits.values())
    # max() over the dict returns the first maximal key, i.e. the table-order tie-break.
    return max(hits, key=hits.__getitem__) if best > 0 else "other"


def _urgency(text: str) -> str:
    if any(_has(text, k) for k in ("production down", "outage", "urgent")) and _has(text, "immediately"):
        return "critical"
    if any(_has(text, k) for k in ("urgent", "asap", "immediately", "three times")):
        return "high"
    if any(_has(text, k) for k in ("question", "wondering", "suggestion")):
        return "low"
    return "medium"


def _sentiment(text: str) -> str:
    if any(_has(text, k) for k in _ANGRY):
        return "negative"
    if any(_has(text, k) for k in _HAPPY):
        return "positive"
    return "neutral"


def _language(text: str) -> str:
    words = re.findall(r"[^\W\d_]+", text)
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _LANGUAGE_WORDS.items()}
    lang, score = max(scores.items(), key=lambda kv: kv[1])
    # Two hits make it "obvious"; one could be an English word that happens to be in a list.
    return lang if score >= 2 else "en"


def _subject(text: str) -> str:
    """The ticket subject: a "Subject:" line if present, else the first non-empty line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.lower().startswith("subject:"):
            return ln.split(":", 1)[1].strip()
    return lines[0] if lines else ""


_MARKER_LINE = re.compile(r"^\s*(?:<<<\w+.*|\w+>>>)\s*$")
_LABEL = re.compile(r"^[A-Z][A-Za-z ]{0,30}:\s+")


def _as_article(text: str) -> str:
    """An article body (markdown) written from the prompt: each paragraph of the last user message (blank
    lines apart; marker lines such as ``<<<TICKET`` left out, ``Label:`` prefixes dropped) as a ``## ``
    section headed by its first line, a one-line paragraph as plain text. Like a model's article, it
    shares the material's words."""
    sections = []
    for block in re.split(r"\n\s*\n", text):
        lines = [_LABEL.sub("", ln.strip()) for ln in block.splitlines() if ln.strip() and not _MARKER_LINE.match(ln)]
        if len(lines) == 1:
            sections.append(lines[0])
        elif lines:
            sections.append(f"## {lines[0]}\n" + "\n".join(lines[1:]))
    return "\n\n".join(sections) or "fake body"


_ENUM_HEURISTICS: dict[str, Callable[[str], str]] = {
    "category": _category,
    "urgency": _urgency,
    "sentiment": _sentiment,
}


def _resolve(schema: Any, root: dict, depth: int = 0) -> tuple[dict, bool]:
    """Resolve ``$ref``/``allOf``/``anyOf``/``oneOf`` into one concrete schema.

    Returns (schema, nullable). pydantic emits ``$defs`` + ``$ref`` for nested models
    and enums, and ``anyOf: [X, {"type": "null"}]`` for ``X | None``.
    """
    if not isinstance(schema, dict) or depth > 32:  # depth guard: recursive models
        return {}, False
    schema = dict(schema)
    nullable = False
    ref = schema.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        resolved, n = _resolve(target, root, depth + 1)
        schema = {**resolved, **schema}  # siblings (e.g. description) override the target
        nullable |= n
    for combinator in ("anyOf", "oneOf"):
        options = schema.pop(combinator, None)
        if isinstance(options, list):
            concrete = []
            for opt in options:
                resolved, n = _resolve(opt, root, depth + 1)
                if resolved.get("type") == "null" or n:
                    nullable = True
                if resolved.get("type") != "null":
                    concrete.append(resolved)
            if concrete:
                schema = {**concrete[0], **schema}
    for part in schema.pop("allOf", None) or []:
        resolved, n = _resolve(part, root, depth + 1)
        schema = {**resolved, **schema}
        nullable |= n
    typ = schema.get("type")
    if isinstance(typ, list):  # {"type": ["string", "null"]}
        nullable |= "null" in typ
        non_null = [t for t in typ if t != "null"]
        schema["type"] = non_null[0] if non_null else "null"
    return schema, nullable


def _number(schema: dict, value: float) -> float:
    """``value`` if the schema's bounds allow it, else the nearest valid point (midpoint if bounded)."""
    lo_inc, hi_inc = schema.get("minimum"), schema.get("maximum")
    lo_exc, hi_exc = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    too_low = (lo_inc is not None and value < lo_inc) or (lo_exc is not None and value <= lo_exc)
    too_high = (hi_inc is not None and value > hi_inc) or (hi_exc is not None and value >= hi_exc)
    if not (too_low or too_high):
        return value
    lo = lo_inc if lo_inc is not None else lo_exc
    hi = hi_inc if hi_inc is not None else hi_exc
    if lo is not None and hi is not None:
        return (lo + hi) / 2 if (lo_exc is not None or hi_exc is not None) else (lo if too_low else hi)
    if too_low:
        return lo if lo_inc is not None else lo + 1
    return hi if hi_inc is not None else hi - 1


def _fill(name: str, schema: Any, root: dict, text: str, depth: int = 0) -> Any:
    """A value for property ``name`` that is valid for ``schema``.

    ``text`` is the last user message in its original casing (summary and order_id
    keep it); keyword heuristics lowercase it themselves.
    """
    schema, nullable = _resolve(schema, root)
    if depth > 16:
        return None if nullable else {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        guess = _ENUM_HEURISTICS[name](text.lower()) if name in _ENUM_HEURISTICS else None
        return guess if guess in schema["enum"] else schema["enum"][0]
    typ = schema.get("type") or ("object" if "properties" in schema else "string")
    if name == "order_id" and typ == "string":
        m = re.search(r"ORD-\d+", text)
        return m.group(0) if m else (None if nullable else "")
    if name == "product" and nullable:
        return None
    if name == "cited_chunk_ids" and typ == "array":
        # Reply drafts cite the first knowledge-base excerpt of the prompt ("[<chunk_id>] ...").
        return re.findall(r"^\[([^\]\s]+#\d+)\]", text, flags=re.MULTILINE)[:1]
    if name == "body" and typ == "string":
        return _as_article(text)
    if name == "reply" and typ == "string":
        # A reply the grounding check can approve: a formulaic opening, then the first excerpt's
        # first sentence (the one it cites), then the first fact (not in the knowledge base).
        said = [_first_excerpt_sentence(text), _first_fact(text)]
        return " ".join(["Thank you for your message.", *(s for s in said if s)])
    if typ == "string":
        if name == "summary":
            value = _subject(text)[:80] or "Customer request"
        elif name == "language":
            value = _language(text.lower())
        else:
            value = f"fake {name}" if name else "fake"
        value = value.ljust(schema.get("minLength", 0), ".")
        return value[: schema["maxLength"]] if "maxLength" in schema else value
    if typ == "number":
        return _number(schema, 0.9)
    if typ == "integer":
        # 0.9 is not an integer; 1 is the nearest sensible "high" default.
        return int(math.ceil(_number(schema, 1)))
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    if typ == "array":
        # [] unless the schema demands items.
        return [_fill("", schema.get("items", {}), root, text, depth + 1) for _ in range(schema.get("minItems", 0))]
    if typ == "object":
        props = schema.get("properties") or {}
        return {key: _fill(key, sub, root, text, depth + 1) for key, sub in props.items()}
    return None


def _response_schema(body: dict) -> tuple[str | None, dict | None]:
    """(response_format type, JSON schema) of a request."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None, None
    kind = fmt.get("type")
    if kind == "json_schema":
        js = fmt.get("json_schema")
        schema = js.get("schema") if isinstance(js, dict) else None
    else:
        schema = fmt.get("schema")  # json_object + schema, as llama.cpp and others accept
    return kind, schema if isinstance(schema, dict) else None


# One row of a batch request: "<<<ITEM id" line, the row's text, "ITEM>>>" line.
_ITEM_BLOCK = re.compile(r"^<<<ITEM[ \t]+(\S+)[ \t]*\r?\n(.*?)^ITEM>>>[ \t]*$", re.MULTILINE | re.DOTALL)


def _batch_item_schema(schema: dict) -> dict | None:
    """The per-row schema if ``schema`` is a batch answer ({"items": [{"row_id": ..., ...}]}), else None."""
    root, _ = _resolve(schema, schema)
    if "items" not in (root.get("required") or []):
        return None
    items, _ = _resolve((root.get("properties") or {}).get("items"), schema)
    if items.get("type") != "array":
        return None
    row, _ = _resolve(items.get("items"), schema)
    row_id, _ = _resolve((row.get("properties") or {}).get("row_id"), schema)
    return row if row_id.get("type") == "string" else None


def _first_excerpt_sentence(text: str) -> str | None:
    """The first sentence of the first knowledge-base excerpt's text (after its "[id] title" line)."""
    excerpt = re.search(r"^\[[^\]\s]+#\d+\] [^\n]*\n([^\n]+)", text, flags=re.MULTILINE)
    return re.match(r"(.+?[.!?])(?:\s|$)|(.+)", excerpt.group(1)).group(0).strip() if excerpt else None


def _first_fact(text: str) -> str | None:
    """The first fact of a "Facts from internal systems:" block, up to its details: a model that
    uses what it was told ("Order ORD-1 is delayed.")."""
    block = re.search(r"^Facts from internal systems:\n- ([^\n(]+)", text, flags=re.MULTILINE)
    return block.group(1).strip().rstrip(".") + "." if block else None


def tool_calling_responder(body: dict) -> dict:
    """A turn of a chat with tools, as a model that takes the ticket at its word would play it:
    first every order id the ticket names -> order_status (and customer_history when the ticket
    refers to earlier contact), then, once tool results are in, a one-line summary."""
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    if any(m.get("role") == "tool" for m in _messages(body)):
        results = sum(m.get("role") == "tool" for m in _messages(body))
        return {"content": f"Looked up {results} things for this ticket."}
    text = _last_user_text(body)
    calls = []
    if "order_status" in offered:
        for order_id in dict.fromkeys(re.findall(r"ORD-\d+", text)):
            calls.append(("order_status", {"order_id": order_id}))
    customer = re.search(r"^Customer id: (\S+)", text, flags=re.MULTILINE)
    if "customer_history" in offered and customer and re.search(r"(?i)\b(again|last time|before|earlier)\b", text):
        calls.append(("customer_history", {"customer_id": customer.group(1)}))
    if not calls:
        return {"content": "Nothing to look up for this ticket."}
    return {
        "content": None,
        "tool_calls": [
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for n, (name, args) in enumerate(calls, 1)
        ],
    }


def default_responder(
    body: dict, *, batch_drop_ids: Collection[str] = (), batch_corrupt_ids: Collection[str] = ()
) -> str:
    """Deterministic content for a chat-completions request body.

    - no response_format (or type "text"): "OK"
    - json_object without a schema: "{}"
    - a schema: JSON filling every property; triage enums (category/urgency/sentiment)
      are guessed from keywords in the last user message; a ``body`` string is an article made of
      the last user message's paragraphs (see :func:`_as_article`).
    - a batch schema (required ``items`` array of objects with a string ``row_id``) and
      ``<<<ITEM id`` ... ``ITEM>>>`` blocks in the last user message: one item per block,
      in block order, each filled from that block's text only. Blocks whose text contains
      a string of ``batch_drop_ids`` are left out; those containing a string of
      ``batch_corrupt_ids`` get a category no schema allows (to test partial answers).
    """
    kind, schema = _response_schema(body)
    if kind in (None, "text"):
        return "OK"
    if schema is None:
        return "{}"
    text = _last_user_text(body)
    blocks = _ITEM_BLOCK.findall(text) if "<<<ITEM" in text else []
    row_schema = _batch_item_schema(schema) if blocks else None
    if row_schema is None:
        return json.dumps(_fill("", schema, schema, text), ensure_ascii=False)
    items = []
    for row_id, block in blocks:
        if any(s in block for s in batch_drop_ids):
            continue
        item = _fill("", row_schema, schema, block)
        item["row_id"] = row_id
        if any(s in block for s in batch_corrupt_ids):
            item["category"] = "not-a-category"
        items.append(item)
    root, _ = _resolve(schema, schema)
    value = {
        key: items if key == "items" else _fill(key, sub, schema, text)
        for key, sub in (root.get("properties") or {}).items()
    }
    return json.dumps(value, ensure_ascii=False)


EMBEDDING_DIM = 256


def _embedding(text: str) -> list[float]:
    """Deterministic unit vector: each word (4+ letters, lowercased) adds +-1 to a hashed dimension."""
    raw = [0.0] * EMBEDDING_DIM
    for word in re.findall(r"[a-z]{4,}", text.lower()):
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        raw[int.from_bytes(digest[:2], "little") % EMBEDDING_DIM] += 1.0 if digest[2] & 1 else -1.0
    if not any(raw):  # no words: a fixed direction, still a unit vector
        raw[0] = 1.0
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


# --------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------


class _Dropped(Exception):
    """Raised inside a handler to close the connection without answering."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a delay must never keep the test process alive
    request_queue_size = 128  # the default backlog of 5 drops connects when many clients start at once
    fake: FakeLLMServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Open connections, so stop() can end keep-alive ones idling in a handler thread.
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for sock in connections:
            # shutdown, not close: the handler thread still owns (and closes) the fd; OSError: already closed.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        # Clients that gave up (timeouts, dropped connections) are expected; don't spam stderr.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 by default: one request per connection, so a dropped connection is always a
    # fresh one (no client-side pool reuse surprises). See _KeepAliveHandler.
    protocol_version = "HTTP/1.0"
    # Headers and body are separate writes; with Nagle on, a keep-alive client's delayed ACK
    # would stall every answer by ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # tests inspect FakeLLMServer.requests instead of access logs

    # ---- plumbing -------------------------------------------------------------------

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    # ---- routes ---------------------------------------------------------------------

    def do_GET(self) -> None:
        fake = self.server.fake
        path = self._path()
        if path == "/v1/models":
            model = {"id": fake.model_name, "object": "model", "created": 0, "owned_by": "fake-llm-server"}
            self._send_json(200, {"object": "list", "data": [model]})
        elif path in ("/stats", "/v1/stats"):
            self._send_json(200, fake.stats())
        else:
            self._send_json(404, _error_body(404, f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        try:
            body = self._read_json()
        except (ValueError, UnicodeDecodeError):
            self._send_json(400, _error_body(400, "Request body is not valid JSON"))
            return
        path = self._path()
        if path in ("/reset", "/v1/reset"):  # the body, if any, is ignored
            self.server.fake.reset_stats()
            self._send_json(200, self.server.fake.stats())
            return
        if not isinstance(body, dict):
            self._send_json(400, _error_body(400, "Request body must be a JSON object"))
            return
        if path == "/v1/chat/completions":
            try:
                self.server.fake._handle_chat(self, body)
            except _Dropped:
                # Shut the socket without writing a byte: the client sees "server disconnected".
                self.close_connection = True
        elif path == "/v1/embeddings":
            self._embeddings(body)
        else:
            self._send_json(404, _error_body(404, f"Unknown path {self.path}"))

    def _embeddings(self, body: dict) -> None:
        self.server.fake._record_embedding_request(body)
        inputs = body.get("input")
        if not isinstance(inputs, list) or (inputs and all(isinstance(i, int) for i in inputs)):
            inputs = [inputs]  # a single string (or a single token array)
        texts = [i if isinstance(i, str) else json.dumps(i) for i in inputs]
        base64_format = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = _embedding(text)
            if base64_format:  # the openai client asks for base64 float32 by default
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(_approx_tokens(t) for t in texts)
        model = body.get("model") or self.server.fake.model_name
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})


class _KeepAliveHandler(_Handler):
    # HTTP/1.1 keep-alive: a benchmark client reuses its connections instead of paying a
    # connect and a handler thread per request. stop() shuts idle connections down.
    protocol_version = "HTTP/1.1"


class FakeLLMServer:
    """OpenAI-compatible fake on 127.0.0.1 with injectable latency/faults and request recording.

    Args:
        latency: seconds every chat-completions request waits before being answered
            (also applies to faulted ones: real providers are slow to fail too).
        responder: ``responder(request_body) -> content``; defaults to :func:`default_responder`.
            If it raises, the request is answered with HTTP 500 carrying the exception text.
        reject_json_schema: answer ``response_format.type == "json_schema"`` with HTTP 400,
            like llama.cpp / older OpenAI-compatible servers.
        model_name: the model listed by ``GET /v1/models`` (chat answers echo the request's model).
        response_headers: extra headers on every chat-completions answer (a fault's
            ``headers`` are added on top), e.g. ``x-ratelimit-remaining-requests``.
        context_limit_tokens: answer chat requests whose prompt (estimated like the usage
            ``prompt_tokens``) exceeds this with OpenAI's 400 ``context_length_exceeded``.
        tool_responder: ``tool_responder(request_body) -> assistant message`` for requests with
            ``tools`` (a dict: ``content`` and/or ``tool_calls``); defaults to
            :func:`tool_calling_responder`.
        batch_drop_ids, batch_corrupt_ids: passed to :func:`default_responder` (ignored with a
            custom ``responder``) to simulate partial or schema-invalid batch answers.
        keep_alive: speak HTTP/1.1 with persistent connections (the standalone mode does).
            Off by default so each request, and each dropped connection, is a fresh connection.
        port: port to listen on; 0 lets the OS pick a free one.
        rendezvous: hold chat requests until this many are in flight at once, then answer them
            all (and every later one) normally: a test that needs calls to overlap makes them
            overlap instead of hoping they do. ``rendezvous_timeout_s`` bounds the wait; when it
            passes, the held requests are answered and :attr:`rendezvous_reached` stays False.
            ``rendezvous_after`` requests are answered first without being held: an LLM step sends
            its first request alone (it probes the endpoint) and fans out only once it is answered.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        responder: Callable[[dict], str] | None = None,
        tool_responder: Callable[[dict], dict] | None = None,
        reject_json_schema: bool = False,
        model_name: str = "fake-model",
        response_headers: dict[str, str] | None = None,
        context_limit_tokens: int | None = None,
        batch_drop_ids: Collection[str] | None = None,
        batch_corrupt_ids: Collection[str] | None = None,
        keep_alive: bool = False,
        port: int = 0,
        rendezvous: int | None = None,
        rendezvous_timeout_s: float = 300,
        rendezvous_after: int = 0,
    ) -> None:
        self.latency = latency
        self.rendezvous = rendezvous
        self.rendezvous_timeout_s = rendezvous_timeout_s
        self.rendezvous_after = rendezvous_after
        self._gate = threading.Event()  # opens when the rendezvous is met or given up
        self._met = False
        if responder is None and (batch_drop_ids or batch_corrupt_ids):
            responder = functools.partial(
                default_responder, batch_drop_ids=batch_drop_ids or (), batch_corrupt_ids=batch_corrupt_ids or ()
            )
        self.responder = responder or default_responder
        self.tool_responder = tool_responder or tool_calling_responder
        self.reject_json_schema = reject_json_schema
        self.model_name = model_name
        self.response_headers = dict(response_headers or {})
        self.context_limit_tokens = context_limit_tokens
        self.keep_alive = keep_alive
        self.port = port
        self._lock = threading.Lock()  # guards faults, requests and counters (handlers run in threads)
        self._faults: list[Fault] = []
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._stopping = threading.Event()  # wakes handlers sleeping in latency/delay on stop()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset_stats()

    # ---- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        if self._httpd is not None:
            raise RuntimeError("FakeLLMServer is already running")
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", self.port), _KeepAliveHandler if self.keep_alive else _Handler)
        httpd.fake = self
        self._httpd = httpd
        # serve_forever() only notices shutdown() between polls; the default 0.5 s would make
        # every test using the server half a second slower on teardown.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, join the server thread and close the listening socket. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()  # ends serve_forever() (blocks until the loop has exited)
        if thread is not None:
            thread.join()
        httpd.server_close()
        httpd.close_connections()  # idle keep-alive connections would otherwise still be served
        self._httpd = self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def environ(self) -> dict[str, str]:
        """The settings that point a pipeline at this server (a benchmark's environment)."""
        return {
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": "sk-bench-0000",
            "AI_ASSETS_CHAT_MODEL": self.model_name,
        }

    # ---- faults and stats -----------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue faults (FIFO). Each chat request consumes the first fault that applies to it."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults not consumed yet (useful to assert that a test used all it injected)."""
        with self._lock:
            return list(self._faults)

    def reset_stats(self) -> None:
        """Forget recorded requests and counters (pending faults are kept)."""
        with self._lock:
            self._requests: list[dict] = []
            self._request_times: list[float] = []
            self._completed = 0
            self._peak = 0  # _in_flight is a live gauge, not a stat: zeroing it would go negative
            self._prompt_tokens = self._completion_tokens = 0
            self._embedding_requests: list[dict] = []

    def _record_embedding_request(self, body: dict) -> None:
        with self._lock:
            self._embedding_requests.append(body)

    @property
    def embedding_requests(self) -> list[dict]:
        """Embeddings bodies in arrival order (what left the pipeline for the embedding model)."""
        with self._lock:
            return list(self._embedding_requests)

    @property
    def requests(self) -> list[dict]:
        """Chat-completions bodies in arrival order, faulted ones included.

        A body that is not a JSON object is answered 400 and neither recorded nor counted.
        """
        with self._lock:
            return list(self._requests)

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def completed_count(self) -> int:
        with self._lock:
            return self._completed

    @property
    def peak_concurrency(self) -> int:
        with self._lock:
            return self._peak

    @property
    def rendezvous_reached(self) -> bool:
        """Whether `rendezvous` chat requests were in flight at once (see the class docstring)."""
        with self._lock:
            return self._met

    @property
    def request_times(self) -> list[float]:
        """``time.monotonic()`` at the arrival of each chat request, in the order of :attr:`requests`."""
        with self._lock:
            return list(self._request_times)

    def stats(self) -> dict[str, int]:
        """Counters (what ``GET /stats`` answers); token sums are over 200 answers only."""
        with self._lock:
            return {
                "call_count": len(self._requests),
                "completed_count": self._completed,
                "peak_concurrency": self._peak,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
            }

    # ---- request handling (runs in handler threads) ------------------------------------

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Dropped  # stop() was called: don't answer from a server that is gone

    def _take_fault(self, text: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.applies_to(text):
                    return self._faults.pop(i)
        return None

    def _handle_chat(self, handler: _Handler, body: dict) -> None:
        with self._lock:
            self._requests.append(body)
            self._request_times.append(time.monotonic())
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            if self.rendezvous is not None and self._in_flight >= self.rendezvous and not self._gate.is_set():
                self._met = True
                self._gate.set()
            held = len(self._requests) > self.rendezvous_after
        try:
            if held:
                self._hold_until_rendezvous()
            self._answer_chat(handler, body)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _hold_until_rendezvous(self) -> None:
        if self.rendezvous is None:
            return
        deadline = time.monotonic() + self.rendezvous_timeout_s
        while not self._gate.wait(0.05):
            if self._stopping.is_set():
                raise _Dropped
            if time.monotonic() >= deadline:
                self._gate.set()  # given up for good: later requests are not held either

    def _answer_chat(self, handler: _Handler, body: dict) -> None:
        self._sleep(self.latency)
        fault = self._take_fault(_all_text(body))
        headers = {**self.response_headers, **((fault and fault.headers) or {})}

        def send(status: int, obj: dict) -> None:
            handler._send_json(status, obj, headers)

        content: str | None = None
        if fault is not None:
            self._sleep(fault.delay)
            if fault.drop_connection:
                raise _Dropped
            if fault.status is not None:
                if fault.retry_after is not None:
                    headers.setdefault("Retry-After", f"{fault.retry_after:g}")
                send(fault.status, _error_body(fault.status))
                return
            content = fault.content
        prompt_tokens = sum(_approx_tokens(_content_text(m.get("content"))) for m in _messages(body))
        if content is None:
            if body.get("stream"):
                send(400, _error_body(400, "stream=true is not supported by FakeLLMServer"))
                return
            kind, _ = _response_schema(body)
            if self.reject_json_schema and kind == "json_schema":
                send(400, _error_body(400, JSON_SCHEMA_REJECTED))
                return
            if self.context_limit_tokens is not None and prompt_tokens > self.context_limit_tokens:
                send(400, _context_exceeded_body(self.context_limit_tokens, prompt_tokens))
                return
            try:
                content = self.tool_responder(body) if body.get("tools") else self.responder(body)
            except Exception as exc:  # surface responder bugs as a 500 instead of a hung test
                send(500, _error_body(500, f"responder failed: {exc!r}"))
                return
        # A responder answers text, or a whole assistant message (a turn with tool calls).
        message = content if isinstance(content, dict) else {"content": content}
        content = message.get("content") or ""
        completion_tokens = _approx_tokens(content + json.dumps(message.get("tool_calls") or []))
        answer = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", **message},
                    "logprobs": None,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        # Count before writing: the client may return (and the test assert) as soon as bytes arrive.
        with self._lock:
            self._completed += 1
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
        send(200, answer)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM/SIGINT (for benchmarks in another process)."""
    parser = argparse.ArgumentParser(prog="python -m ai_assets_tests.fakes.llm_server", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see READY line)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat answer")
    parser.add_argument("--context-limit-tokens", type=int, default=None)
    parser.add_argument("--model-name", default="fake-model")
    parser.add_argument("--ready-file", type=Path, help="write the base URL here once serving")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = FakeLLMServer(
        latency=args.latency,
        context_limit_tokens=args.context_limit_tokens,
        model_name=args.model_name,
        keep_alive=True,
        port=args.port,
    ).start()
    try:
        if args.ready_file is not None:  # write-then-rename: a poller never reads a partial URL
            partial = args.ready_file.with_name(args.ready_file.name + ".partial")
            partial.write_text(server.base_url)
            partial.replace(args.ready_file)
        print(f"READY {server.base_url}", flush=True)
        # wait() with a timeout so the main thread wakes up to run the signal handler promptly.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
