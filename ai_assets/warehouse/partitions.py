"""Ticket assets are partitioned by the calendar day (UTC) of `created_at`."""

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from ai_assets.config import ProjectSettings


@dataclass(frozen=True)
class Daily:
    """What every daily asset is given: the partitions and how a backfill groups them."""

    partitions_def: dg.DailyPartitionsDefinition
    backfill_policy: dg.BackfillPolicy

    @classmethod
    def from_settings(cls, settings: "ProjectSettings") -> "Daily":
        return cls(
            dg.DailyPartitionsDefinition(start_date=settings.partitions_start),
            # A backfill of many days runs them in groups: one run (one process start-up, one LLM
            # step whose concurrency stays full across the group's days) per group, several in parallel.
            dg.BackfillPolicy.multi_run(max_partitions_per_run=settings.backfill_days_per_run),
        )

    def asset_args(self) -> dict:
        return {"partitions_def": self.partitions_def, "backfill_policy": self.backfill_policy}


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a run materialises: one for a single partition, several for a backfill group."""
    return [date.fromisoformat(key) for key in context.partition_keys]
