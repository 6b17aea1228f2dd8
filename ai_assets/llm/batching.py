"""Several rows in one request: the prompt format, the answer schema, and splitting the answer.

The rows' user prompts are fenced as items with a row id; the answer schema is an object whose
`items` array has exactly one entry per row, each echoing its `row_id`. The task's instructions
(the system prompt) are sent once per batch instead of once per row, which is where the token
saving comes from.
"""

from __future__ import annotations

import copy
import json
from typing import Any

BATCH_INSTRUCTIONS = (
    "\n\nYou receive several items, each between a line `<<<ITEM <row_id>` and a line `ITEM>>>`. "
    'Answer with one JSON object {"items": [...]} holding one object per item, in the same order, '
    'each with the item\'s "row_id" and all the fields described above.'
)


def batch_schema(item_schema: dict[str, Any], size: int) -> dict[str, Any]:
    item = copy.deepcopy(item_schema)
    defs = item.pop("$defs", None)
    item.pop("title", None)
    item.pop("description", None)
    item["properties"] = {"row_id": {"type": "string"}, **item.get("properties", {})}
    item["required"] = ["row_id", *item.get("required", [])]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item, "minItems": size, "maxItems": size}},
        "required": ["items"],
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs  # $ref paths ("#/$defs/...") stay valid at the top level
    return schema


def batch_messages(system: str, items: list[tuple[str, str]]) -> list[dict[str, str]]:
    """`items` are (row_id, rendered user prompt) pairs."""
    blocks = "\n".join(f"<<<ITEM {row_id}\n{content}\nITEM>>>" for row_id, content in items)
    return [{"role": "system", "content": system + BATCH_INSTRUCTIONS}, {"role": "user", "content": blocks}]


def split_batch_answer(content: str) -> dict[str, dict[str, Any]]:
    """row_id -> that row's fields. Raises ValueError when the answer is not a batch answer at all."""
    try:
        answer = json.loads(content, strict=False)
    except json.JSONDecodeError as error:
        raise ValueError(f"batch answer is not JSON: {error.msg}") from None
    items = answer.get("items") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ValueError('batch answer has no "items" array')
    by_id: dict[str, dict[str, Any]] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("row_id"), str):
            fields = dict(item)
            by_id.setdefault(fields.pop("row_id"), fields)  # a repeated id keeps its first answer
    return by_id
