"""Triage: each ticket's category, urgency, sentiment and language, by the cascade and the LLM."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.triage.assets import build_ticket_triage
from ai_assets.defs.triage.cascade import CascadeSettings
from ai_assets.defs.triage.tasks import triage_task
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def triage() -> dg.Definitions:
    settings = current().settings
    project = settings.project
    task = triage_task(project.prompts_dir, project.triage_batch_size)
    # With blocking on, ticket_triage writes only once its model and prompt meet the eval targets.
    gate = project.eval_targets if project.eval_blocking else None
    ticket_triage = build_ticket_triage(
        task, settings.llm.chat_model, Daily.from_settings(project), CascadeSettings.from_settings(project), gate
    )
    return dg.Definitions(assets=[ticket_triage])
