"""Landing: the landing folders as external assets, and the daily extracts of tickets and orders."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.landing.assets import build_orders_asset, build_raw_tickets_asset
from ai_assets.extract.sources import LANDING_SOURCES
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def landing() -> dg.Definitions:
    daily = Daily.from_settings(current().settings.project)
    sources = [source.spec() for source in LANDING_SOURCES]
    return dg.Definitions(assets=[*sources, build_raw_tickets_asset(daily), build_orders_asset(daily)])
