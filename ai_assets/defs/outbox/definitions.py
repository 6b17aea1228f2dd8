"""The outbox: reviewers' decisions (module-level in assets.py, where Dagster finds them), routing,
the actions to take and their delivery (at most once), on the daily partitions of the settings."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.outbox.assets import build_outbox, build_outbox_deliveries, build_routing
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def outbox() -> dg.Definitions:
    project = current().settings.project
    daily = Daily.from_settings(project)
    return dg.Definitions(
        assets=[
            build_routing(project.review_min_confidence, daily),
            build_outbox(daily),
            build_outbox_deliveries(daily),
        ]
    )
