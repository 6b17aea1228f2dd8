"""The asset checks of the packaged tables (quality/checks.py): a schema check per table and the
conservation checks across a step's tables."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.quality.checks import build_asset_checks
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def checks() -> dg.Definitions:
    daily = Daily.from_settings(current().settings.project)
    return dg.Definitions(asset_checks=build_asset_checks(daily.partitions_def))
