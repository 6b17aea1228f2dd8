"""This project's Dagster component types (`dg list components` finds them here: pyproject.toml's
`registry_modules`). Declare one in a `defs.yaml` under ai_assets/defs/ with `type:
ai_assets.components.<Type>`, or start from `dg scaffold defs ai_assets.components.<Type> <folder>`."""

from ai_assets.components.fields import OutputField
from ai_assets.components.landing_table import LandingTable
from ai_assets.components.llm_step import LLMStep

__all__ = ["LandingTable", "LLMStep", "OutputField"]
