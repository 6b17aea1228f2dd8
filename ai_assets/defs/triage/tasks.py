"""The ticket-triage task: what the LLM is asked, and the shape its answer must have."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ai_assets.llm.task import LLMTask, PromptTemplate
from ai_assets.quality.vocabulary import CATEGORIES, SENTIMENTS, URGENCIES
from ai_assets.transform.language import is_language_code, primary_subtag

# Literal[tuple] spells out the tuple's values: one vocabulary for prompts, schemas and tables.
Category = Literal[CATEGORIES]
Urgency = Literal[URGENCIES]
Sentiment = Literal[SENTIMENTS]


class TicketTriage(BaseModel):
    """One triaged ticket: what only reading it can tell. Every field is required, so the schema is
    also valid for providers' strict structured-output mode. What the text says outright (order id,
    product) is read by rules (transform/entities.py); the summary is written only for the tickets a
    person reads (defs/summaries)."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    urgency: Urgency
    sentiment: Sentiment
    language: str = Field(max_length=8, description="ISO 639-1 code, e.g. en")
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("language", mode="before")
    @classmethod
    def primary_language_subtag(cls, value: object) -> object:
        # Models often answer "en-US" or "EN"; the table stores the primary ISO 639-1 subtag.
        if isinstance(value, str):
            value = primary_subtag(value)
            if not is_language_code(value):
                raise ValueError("expected an ISO 639-1 language code such as 'en'")
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def percentage_is_a_share(cls, value: object) -> object:
        # Small models often answer a percentage (85) where the schema asks for 0..1, and llama.cpp's
        # grammar does not enforce the maximum: 5 of 64 held-out tickets were dead-lettered for it.
        if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value <= 100:
            return value / 100
        return value


def triage_task(prompts_dir: Path | None = None, batch_size: int = 1) -> LLMTask:
    return LLMTask(
        name="ticket_triage",
        prompt=PromptTemplate.load("ticket_triage", prompts_dir),
        output_model=TicketTriage,
        # `examples`: the nearest labelled tickets (the cascade), or "" (defs/triage/cascade.py).
        input_columns=("examples", "channel", "subject", "body"),
        temperature=0.0,
        max_tokens=120,
        batch_size=batch_size,
    )
