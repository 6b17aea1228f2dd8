"""The reply tasks (draft, critique, refine) and the rule checks no LLM verdict can override."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ai_assets.config import Settings
from ai_assets.llm.redaction import CARD_NUMBER
from ai_assets.llm.task import LLMTask, PromptTemplate

REPLY_MAX_CHARS = 1500


class ReplyDraft(BaseModel):
    """A reply and the knowledge-base chunks it relies on."""

    model_config = ConfigDict(extra="forbid")

    # No maxLength in the schema: llama.cpp expands it into one grammar rule per character and
    # fails (taking its server down) for lengths like this one. The validator enforces it instead.
    reply: str
    cited_chunk_ids: list[str] = Field(max_length=5)

    @field_validator("reply")
    @classmethod
    def not_blank_nor_too_long(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reply is empty")
        if len(value) > REPLY_MAX_CHARS:
            raise ValueError(f"reply is longer than {REPLY_MAX_CHARS} characters")
        return value.strip()


class ReplyCritique(BaseModel):
    """The critic's verdict on one draft."""

    model_config = ConfigDict(extra="forbid")

    grounded: bool
    policy_ok: bool
    tone_ok: bool
    problems: list[str] = Field(max_length=5)


def reply_tasks(settings: Settings) -> tuple[LLMTask, LLMTask, LLMTask]:
    """(draft, critique, refine) with the prompts the settings select."""

    def task(name: str, model: type[BaseModel], inputs: tuple[str, ...], max_tokens: int) -> LLMTask:
        return LLMTask(
            name, PromptTemplate.load(name, settings.prompts_dir), model, inputs, temperature=0.0, max_tokens=max_tokens
        )

    return (
        task("reply_draft", ReplyDraft, ("customer_context", "knowledge", "subject", "body"), 500),
        task("reply_critique", ReplyCritique, ("knowledge", "subject", "body", "cited", "draft"), 250),
        task("reply_refine", ReplyDraft, ("knowledge", "subject", "body", "draft", "problems"), 500),
    )


# Replies must never ask for secrets (KB: "We will never ask for your password, your full card
# number or your CVV"), and carry no links: a link is the usual payload of an injected instruction.
_FORBIDDEN = {
    "asks for a password": r"(?i)\b(send|give|share|provide|confirm|tell)\b[^.?!]{0,40}\bpassword",
    "asks for card details": (
        r"(?i)\b(send|give|share|provide|confirm|tell)\b[^.?!]{0,40}\b(card number|cvv|cvc|security code)"
    ),
    "contains a card number": CARD_NUMBER,
    "contains a link": r"(?i)(https?://|www\.)",
}


def rule_problems(drafts: pl.DataFrame) -> pl.Series:
    """Per draft (columns `reply`, `cited_chunk_ids`, `retrieved_chunk_ids`), the rules it breaks:
    citations must be among the chunks retrieved for the ticket, and none of `_FORBIDDEN` may match."""
    cited_unknown = pl.col("cited_chunk_ids").list.set_difference(pl.col("retrieved_chunk_ids")).list.len() > 0
    checks = [
        pl.when(pl.col("cited_chunk_ids").list.len() == 0).then(pl.lit("cites no knowledge-base chunk")),
        pl.when(cited_unknown).then(pl.lit("cites a chunk that was not retrieved for this ticket")),
        *(pl.when(pl.col("reply").str.contains(pattern)).then(pl.lit(name)) for name, pattern in _FORBIDDEN.items()),
    ]
    return drafts.select(problems=pl.concat_list(checks).list.drop_nulls())["problems"]
