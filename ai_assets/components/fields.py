"""A declared column: of a LandingTable's records, or of the answer an LLMStep asks the model for.
Its type and limits go into the pydantic model that validates each value and into the table's
pandera contract."""

from typing import Any, Literal

import dagster as dg
import pandera.polars as pa
import polars as pl
from pydantic import Field

FieldType = Literal["string", "enum", "boolean", "integer", "number"]
_DTYPES = {"string": pl.Utf8, "enum": pl.Utf8, "boolean": pl.Boolean, "integer": pl.Int64, "number": pl.Float64}
_PYTHON_TYPES: dict[str, Any] = {"string": str, "boolean": bool, "integer": int, "number": float}


class OutputField(dg.Model):
    """One declared column: its type and limits are in the pydantic model every value is validated by
    (for an LLMStep, the JSON schema the model must answer) and in the table's contract."""

    name: str
    description: str = Field(description="What the column means: shown in the UI, the contract and its check.")
    type: FieldType = "string"
    values: list[str] = Field(default_factory=list, description="type enum: the values allowed")
    max_length: int | None = Field(default=None, description="type string: the longest answer allowed")
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = Field(
        default=False, description="The value may be null (an answer 'when mentioned', a field left out)"
    )

    def annotation(self) -> Any:
        python = Literal[tuple(self.values)] if self.type == "enum" else _PYTHON_TYPES[self.type]
        return python | None if self.nullable else python

    def pydantic_field(self, optional: bool = False) -> Any:
        """The field's rules; `optional`: it may be left out, as null (a landing record's nullable field)."""
        limits = {"max_length": self.max_length, "ge": self.minimum, "le": self.maximum}
        default = {"default": None} if optional else {}
        return Field(**default, description=self.description, **{k: v for k, v in limits.items() if v is not None})

    def column(self) -> pa.Column:
        checks = []
        if self.type == "enum":
            checks.append(pa.Check.isin(self.values))
        if self.minimum is not None:
            checks.append(pa.Check.ge(self.minimum))
        if self.maximum is not None:
            checks.append(pa.Check.le(self.maximum))
        if self.max_length is not None:
            checks.append(pa.Check.str_length(max_value=self.max_length))
        return pa.Column(_DTYPES[self.type], checks=checks, nullable=self.nullable)
