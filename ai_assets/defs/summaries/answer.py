"""The answer ticket_summaries asks for: one short sentence."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

# In the JSON schema too: a grammar-constrained local model then stops early instead of spending its
# slow tokens on a rambling sentence.
SUMMARY_MAX_CHARS = 120


class TicketSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(
        max_length=SUMMARY_MAX_CHARS, description="one short English sentence: what the customer needs"
    )

    @field_validator("summary", mode="before")
    @classmethod
    def one_line(cls, value: object) -> object:
        # Models add line breaks and overrun by a word or two: one line, cut at the limit.
        if isinstance(value, str):
            value = " ".join(value.split())[:SUMMARY_MAX_CHARS]
            if not value:
                raise ValueError("summary is empty")
        return value
