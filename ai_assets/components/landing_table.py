"""A landing source as a Dagster component: daily files of your own (product reviews, invoices,
call notes) into a warehouse table and its quarantine, declared in a `defs.yaml` and nothing else.

    type: ai_assets.components.LandingTable
    attributes:
      name: product_reviews
      description: One row per product review posted on the shop, from its daily export.
      folder: product_reviews          # landing/product_reviews/YYYY-MM-DD/*.jsonl|*.csv
      key: [review_id]
      fields:
        - {name: review_id, description: The shop's id of the review}
        - {name: rating, type: integer, minimum: 1, maximum: 5, description: Stars given}

It builds what the ticket extract has: the table and `<name>_quarantine` as contracts (every record
read in exactly one of them, the reason on each reject), a daily multi-asset that refuses to
replace a day that had rows with nothing, schema checks, and the landing folder as an external
asset upstream. An `LLMStep` can then take the table as its `input`.
"""

from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl
from pydantic import ConfigDict, Field, create_model

from ai_assets.automation.jobs import JOB_TAG
from ai_assets.components.fields import OutputField
from ai_assets.components.loading import current
from ai_assets.extract.declared import read_declared_day
from ai_assets.extract.folder_assets import refuse_lost_days
from ai_assets.extract.sources import LandingSource
from ai_assets.quality.checks import schema_check
from ai_assets.quality.columns import LANDING_NOTES, day_quarantine
from ai_assets.resources import DataDirResource
from ai_assets.warehouse import registry
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource

_RESERVED = {PARTITION_COLUMN, "source_file", "source_line", "raw_record", "reason"}
_DAY_NOTE = "the partition: the day folder read, landing/<folder>/YYYY-MM-DD"


class LandingTable(dg.Component, dg.Model, dg.Resolvable):
    """Daily landing files of your own into a typed, de-duplicated warehouse table and its quarantine."""

    name: str = Field(description="The table; its rejects go to <name>_quarantine.")
    description: str = Field(description="What one row is, e.g. 'One row per product review, ...'.")
    folder: str = Field(description="Under landing/: one folder per day, <folder>/YYYY-MM-DD/*.jsonl|*.csv.")
    key: list[str] = Field(description="The fields that identify a record within its day (the first copy wins).")
    fields: list[OutputField] = Field(description="The columns: type, limits, nullability and description.")
    pii: bool = Field(default=True, description="The records hold people's words or contact details.")
    group: str | None = Field(default=None, description="The asset group; default: the folder of the defs.yaml.")
    job: str | None = Field(
        default="daily_tickets_job",
        description="The job that extracts each day (its tag ai_assets/job); null: none, launch it alone.",
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        self._refuse_wrong()
        daily = Daily.from_settings(current().settings.project)
        table, quarantine = (registry.declare(t) for t in self.tables())
        source = LandingSource(
            f"landing_{self.folder}", self.folder, f"{self.folder}/YYYY-MM-DD/*.jsonl|csv.", self.pii
        )
        asset = self._asset(table, quarantine, source.name, daily, self.group or Path(context.path).name)
        checks = [schema_check(table, daily.partitions_def), schema_check(quarantine, daily.partitions_def)]
        return dg.Definitions(assets=[source.spec(), asset], asset_checks=checks)

    def _refuse_wrong(self) -> None:
        names = [f.name for f in self.fields]
        problems = [f"key {k!r} is not a field" for k in self.key if k not in names]
        problems += [f"field {n!r} is a reserved column name" for n in names if n in _RESERVED]
        problems += [f"field {n!r} is declared twice" for n in set(names) if names.count(n) > 1]
        problems += [
            f"key field {f.name!r} may not be nullable" for f in self.fields if f.name in self.key and f.nullable
        ]
        problems += [
            f"field {f.name!r} of type enum has no values" for f in self.fields if f.type == "enum" and not f.values
        ]
        if not self.key:
            problems.append("give the key: the fields that identify a record within its day")
        if problems:
            raise ValueError(f"LandingTable {self.name}: " + "; ".join(problems))

    def _record_model(self) -> type:
        """A record's declared fields: unknown fields ignored, numbers taken as text where text is declared."""
        config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
        definitions = {f.name: (f.annotation(), f.pydantic_field(optional=f.nullable)) for f in self.fields}
        return create_model(f"{self.name}_record", __config__=config, **definitions)

    def tables(self) -> tuple[Table, Table]:
        """The table and its quarantine, as contracts (what an LLMStep over the table reads too)."""
        table = Table(
            self.name,
            self.description,
            {
                PARTITION_COLUMN: pa.Column(pl.Date),
                **{f.name: f.column() for f in self.fields},
                "source_file": pa.Column(pl.Utf8),
                "source_line": pa.Column(pl.Int64),
            },
            key=(PARTITION_COLUMN, *self.key),
            partitioned=True,
            pii=self.pii,
            preview=tuple(f.name for f in self.fields)[:6],
            notes={PARTITION_COLUMN: _DAY_NOTE, **{f.name: f.description for f in self.fields}, **LANDING_NOTES},
        )
        quarantine = day_quarantine(
            f"{self.name}_quarantine",
            f"One row per record of landing/{self.folder} rejected from {self.name} (unreadable, invalid or "
            "duplicate), with the reason, source file and raw record.",
            self.key[0],
            {PARTITION_COLUMN: _DAY_NOTE},
        )
        return table, quarantine

    def _asset(self, table: Table, quarantine: Table, source: str, daily: Daily, group: str) -> dg.AssetsDefinition:
        model, folder = self._record_model(), self.folder
        tags = {JOB_TAG: self.job} if self.job else {}

        @dg.multi_asset(
            name=self.name,
            specs=[table.spec(deps=[source], tags=tags), quarantine.spec(deps=[source], tags=tags)],
            group_name=group,
            retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
            **daily.asset_args(),
        )
        def landing_table(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
            days = partition_days(context)
            refuse_lost_days(context, warehouse, table, landing.landing_dir / folder, days, folder_required=False)
            results = [read_declared_day(landing.landing_dir, folder, d, model, table, quarantine) for d in days]
            for day, result in zip(days, results):
                context.log.info(
                    f"{day}: read {result.records} records from {result.files} files of landing/{folder}; "
                    f"{result.rows.height} rows, {result.quarantine.height} quarantined "
                    f"({result.duplicates} duplicates)"
                )
            frames = {
                table: pl.concat([r.rows for r in results]),
                quarantine: pl.concat([r.quarantine for r in results]),
            }
            stats = {
                "records": sum(r.records for r in results),
                "files": sum(r.files for r in results),
                "duplicates_dropped": sum(r.duplicates for r in results),
            }
            yield from warehouse.write(frames, days, metadata={table: stats})

        return landing_table
