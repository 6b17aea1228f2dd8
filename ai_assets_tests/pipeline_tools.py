"""What the pipeline tests share: the prompts of the first sample day, the UI's staleness of an
asset, definitions rebuilt under new settings, and the fake model with some answers replaced."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.llm.task import PromptTemplate
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.fakes.llm_server import default_responder


def stale_resolver(pipeline: Pipeline, defs: dg.Definitions):
    # The resolver behind the UI's "unsynced" labels (no public name; a test may use it).
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.loader import LoadingContextForTest

    return CachingStaleStatusResolver(
        pipeline.instance, defs.resolve_asset_graph(), LoadingContextForTest(pipeline.instance)
    )


def stale_status(pipeline: Pipeline, defs: dg.Definitions, key: str, partition: str | None = None) -> str:
    return stale_resolver(pipeline, defs).get_status(dg.AssetKey(key), partition).value


def stale_causes(pipeline: Pipeline, key: str, partition: str | None = None) -> list:
    return list(stale_resolver(pipeline, pipeline.defs).get_stale_causes(dg.AssetKey(key), partition))


def day_1_prompts(pipeline: Pipeline) -> dict[str, str]:
    """ticket_id -> a piece of its prompt unique enough to target that one request with a fault."""
    tickets = build_raw_tickets(pipeline.settings.landing_dir, date.fromisoformat(DAY_1)).tickets.sort("ticket_id")
    return {
        r["ticket_id"]: f"Subject: {r['subject']}\n<<<TICKET\n{r['body'][:60]}" for r in tickets.iter_rows(named=True)
    }


TRIAGE_SYSTEM = PromptTemplate.load("ticket_triage").system
CRITIQUE_SYSTEM = PromptTemplate.load("reply_critique").system
DRAFT_SYSTEMS = (PromptTemplate.load("reply_draft").system, PromptTemplate.load("reply_refine").system)


def replaced_responder(*, critique=None, draft=None, triage=None):
    """The fake model, with the critic's, the drafter's or the triage answers replaced."""

    def respond(body: dict) -> str:
        system = body["messages"][0]["content"]
        if triage is not None and system == TRIAGE_SYSTEM:
            return json.dumps(triage(body, json.loads(default_responder(body))))
        if critique is not None and system == CRITIQUE_SYSTEM:
            return json.dumps(critique(body))
        if draft is not None and system in DRAFT_SYSTEMS:
            return json.dumps(draft(body, json.loads(default_responder(body))))
        return default_responder(body)

    return respond


def rebuild_with(pipeline: Pipeline, monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pipeline.settings = load_settings()
    pipeline.defs = build_definitions(pipeline.settings)
