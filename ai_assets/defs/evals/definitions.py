"""Evaluations: the triage against the labelled tickets, the replies against their rules."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.evals.reply_eval import build_reply_eval
from ai_assets.defs.evals.triage_eval import build_triage_eval
from ai_assets.defs.triage.cascade import CascadeSettings
from ai_assets.defs.triage.tasks import triage_task


@dg.definitions
def evals() -> dg.Definitions:
    settings = current().settings
    project = settings.project
    task = triage_task(project.prompts_dir, project.triage_batch_size)  # ticket_triage's
    cascade = CascadeSettings.from_settings(project, settings.small_llm.describe())
    triage_eval = build_triage_eval(task, settings.llm.chat_model, cascade, project.eval_targets, project.eval_blocking)
    return dg.Definitions(assets=[triage_eval, build_reply_eval(settings.embeddings.model)])
