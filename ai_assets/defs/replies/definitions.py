"""Replies: a grounded draft per ticket, critiqued and refined, approved only when its sources support it."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.replies.assets import build_reply_drafts
from ai_assets.defs.replies.tasks import reply_tasks
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def replies() -> dg.Definitions:
    settings = current().settings
    project, embeddings = settings.project, settings.embeddings
    drafts = build_reply_drafts(
        reply_tasks(project.prompts_dir),
        settings.llm.chat_model,
        project.reply_max_refinements,
        Daily.from_settings(project),
        embeddings.model,
        embeddings.grounding_threshold(),
        templates=project.reply_templates(settings.llm),
        template_min_score=embeddings.template_min_score,
    )
    return dg.Definitions(assets=[drafts])
