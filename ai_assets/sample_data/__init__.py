"""Deterministic sample data for the support pipeline: landing tickets, CRM, KB and eval answer keys."""

from ai_assets.sample_data.generator import (
    BAD_KINDS,
    HOSTILE_KINDS,
    DayExpectation,
    SampleSummary,
    generate_sample_data,
)

__all__ = ["BAD_KINDS", "HOSTILE_KINDS", "DayExpectation", "SampleSummary", "generate_sample_data"]
