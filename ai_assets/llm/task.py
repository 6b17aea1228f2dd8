"""Declarative LLM tasks: a prompt template file plus a pydantic output model."""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel

# The packaged prompts live beside the feature that asks them (ai_assets/defs/<feature>/<name>.txt).
PROMPTS_ROOT = Path(__file__).resolve().parent.parent / "defs"
_SYSTEM_MARK, _USER_MARK = "[system]", "[user]"


def packaged_prompt(name: str) -> Path:
    """The file of the packaged prompt `name`: `<name>.txt` in its feature's folder under PROMPTS_ROOT."""
    found = sorted(PROMPTS_ROOT.glob(f"*/{name}.txt"))
    if len(found) != 1:
        raise FileNotFoundError(f"{len(found)} packaged prompts named {name!r} under {PROMPTS_ROOT} (want one)")
    return found[0]


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt file with a `[system]` section and a `[user]` section of `{placeholders}`."""

    name: str
    system: str
    user: str

    @classmethod
    def load(cls, name: str, override_dir: Path | None = None) -> PromptTemplate:
        """The packaged prompt `name`, or the file of that name in `override_dir` when there is one."""
        override = override_dir / f"{name}.txt" if override_dir is not None else None
        return cls.from_file(override if override and override.exists() else packaged_prompt(name), name)

    @classmethod
    def from_file(cls, path: Path, name: str) -> PromptTemplate:
        """The prompt in the file at `path`, called `name` (its prompt versions are `<name>@<hash>`)."""
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such prompt file")
        text = path.read_text(encoding="utf-8")
        if _SYSTEM_MARK not in text or _USER_MARK not in text:
            raise ValueError(f"{path}: a prompt file needs a '{_SYSTEM_MARK}' and a '{_USER_MARK}' section")
        system, user = text.split(_SYSTEM_MARK, 1)[1].split(_USER_MARK, 1)
        return cls(name=name, system=system.strip(), user=user.strip())

    def messages(self, user_message: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user_message}]

    def user_expr(self) -> pl.Expr:
        """The user message as a polars expression over the input columns (vectorised render).
        Values are inserted as data, never parsed: braces inside ticket text stay text."""
        parts: list[pl.Expr] = []
        for literal, field_name, _, _ in string.Formatter().parse(self.user):
            if literal:
                parts.append(pl.lit(literal))
            if field_name is not None:
                parts.append(pl.col(field_name).cast(pl.Utf8).fill_null(""))
        return pl.concat_str(parts)


@dataclass(frozen=True)
class LLMTask:
    """One LLM step: which prompt, which output model, which sampling parameters."""

    name: str
    prompt: PromptTemplate
    output_model: type[BaseModel]
    input_columns: tuple[str, ...]
    temperature: float = 0.0
    max_tokens: int = 300  # per row
    # Rows per request; >1 sends several rows in one request (see batching.py).
    batch_size: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def json_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()

    @cached_property
    def prompt_version(self) -> str:
        """Content hash of everything that defines the task's answers, except the model."""
        material = json.dumps(
            {
                "system": self.prompt.system,
                "user": self.prompt.user,
                "schema": self.json_schema,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "params": self.params,
            },
            sort_keys=True,
        )
        return f"{self.prompt.name}@{hashlib.sha256(material.encode()).hexdigest()[:12]}"
