"""Knowledge-base updates: article proposals for the gaps, the reviewers' decisions, publication (the
last two module-level in assets.py, where Dagster finds them)."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.kb_updates.assets import build_kb_article_proposals
from ai_assets.defs.kb_updates.proposals import MAX_TICKETS, kb_article_task
from ai_assets.load.dbt import dbt_var


@dg.definitions
def kb_updates() -> dg.Definitions:
    settings = current().settings
    proposals = build_kb_article_proposals(
        kb_article_task(settings.project.prompts_dir),
        settings.llm.chat_model,
        float(dbt_var("kb_gap_score_threshold")),
        MAX_TICKETS,
    )
    return dg.Definitions(assets=[proposals])
