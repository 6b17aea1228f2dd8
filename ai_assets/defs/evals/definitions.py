"""Evaluations: the triage against the labelled tickets, the replies against their rules."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.transform.eval_assets import build_triage_eval
from ai_assets.transform.reply_eval_assets import build_reply_eval
from ai_assets.transform.triage import triage_task
from ai_assets.transform.triage_cascade import CascadeSettings


@dg.definitions
def evals() -> dg.Definitions:
    settings = current().settings
    project = settings.project
    task = triage_task(project.prompts_dir, project.triage_batch_size)  # ticket_triage's
    cascade = CascadeSettings.from_settings(project)
    triage_eval = build_triage_eval(task, settings.llm.chat_model, cascade, project.eval_targets, project.eval_blocking)
    return dg.Definitions(assets=[triage_eval, build_reply_eval(settings.embeddings.model)])
