"""The dbt marts (dbt_project/), rebuilt once a run that updated one of their parents is over."""

import dagster as dg

from ai_assets.load.dbt import build_dbt_marts


@dg.definitions
def marts() -> dg.Definitions:
    dbt_marts = build_dbt_marts()
    rebuild = dg.AutomationConditionSensorDefinition(
        "marts_automation_sensor",
        target=dg.AssetSelection.assets(dbt_marts),
        # Running from the start: marts built after every UI or schedule run, nothing to switch on.
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Rebuilds the dbt marts once a run that updated one of their parents is over "
        "(load/dbt.py: MARTS_FOLLOW_PARENTS).",
    )
    return dg.Definitions(assets=[dbt_marts], sensors=[rebuild])
