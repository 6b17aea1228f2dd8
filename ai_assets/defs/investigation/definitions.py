"""Investigation: each ticket's facts gathered with tools (order status, knowledge-base search, history)."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.investigation.assets import build_ticket_investigations, investigation_task, tools_version
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def investigation() -> dg.Definitions:
    settings = current().settings
    tools = settings.tools
    investigations = build_ticket_investigations(
        investigation_task(settings.project.prompts_dir),
        tools_version(tools.orders_api_url, tools.max_calls, tools.calling),
        Daily.from_settings(settings.project),
    )
    return dg.Definitions(assets=[investigations])
