"""What the extract assets of every feature share: a table rebuilt whole from one landing folder
(with its quarantine), and the guard that no day is replaced with nothing."""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from ai_assets.extract.landing import WHOLE_FILE
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.resource import WarehouseResource

# The run tag that empties a day on purpose (docs/operations.md): without it a day with no landing
# files is never written over rows.
ALLOW_EMPTY_DAY_TAG = "ai_assets/allow_empty_day"


def _lost_day(source_dir: Path, day: date, rows: int, folder_required: bool) -> str | None:
    """Why extracting `day` from `source_dir` (landing/tickets, landing/orders) would lose data, or None.
    A missing day folder means its files are gone (archived, or this data directory is not the one
    that landed them), not that the day had none; an emptied folder over a day with rows is the same.
    Where a day may have no folder (orders: not every day has an export), only rows can be lost."""
    folder = source_dir / day.isoformat()
    if folder.is_dir():
        return (
            f"{folder} has no files but the warehouse holds {rows} rows of {day}"
            if rows and not any(folder.iterdir())
            else None
        )
    if rows or (folder_required and source_dir.is_dir()):
        return f"no landing folder {folder}" + (f" (the warehouse holds {rows} rows of {day})" if rows else "")
    return None  # the source is not used at all (orders from the order service): nothing to lose


def refuse_lost_days(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    table: Table,
    source_dir: Path,
    days: list[date],
    folder_required: bool = True,
) -> None:
    """Fails the step before it writes when a day of `days` has no landing files to replace its rows
    with (see `_lost_day`), unless the run carries ALLOW_EMPTY_DAY_TAG."""
    if context.run.tags.get(ALLOW_EMPTY_DAY_TAG) == "true":
        context.log.warning(f"{ALLOW_EMPTY_DAY_TAG}: days without landing files are written empty")
        return
    with warehouse.get_connection() as conn:
        column = PARTITION_COLUMN
        query = f"SELECT {column}, count(*) FROM {table.name} WHERE list_contains(?, {column}) GROUP BY 1"
        rows = dict(conn.execute(query, [days]).fetchall())
    lost = [problem for day in days if (problem := _lost_day(source_dir, day, rows.get(day, 0), folder_required))]
    if lost:
        raise dg.Failure(
            f"{table.name} not extracted, so that no day is replaced with nothing: {'; '.join(lost)}. Restore the "
            "files (a retention job may have archived them) or point AI_ASSETS_DATA_DIR at the data directory that "
            "landed them. To extract a day as empty on purpose, create its folder with no files (a day without rows) "
            f"or rerun with the run tag {ALLOW_EMPTY_DAY_TAG}=true.",
            allow_retries=False,  # the files do not come back by themselves
        )


def folder_table_asset(
    table: Table,
    quarantine: Table,
    read_source: Callable[[Path], tuple[pl.DataFrame, pl.DataFrame]],
    source: str,
    landing_asset: str,
    group: str,
) -> dg.AssetsDefinition:
    """An unpartitioned table rebuilt whole from one landing source, plus its quarantine table."""

    specs = [table.spec(deps=[landing_asset]), quarantine.spec(deps=[landing_asset])]

    @dg.multi_asset(name=table.name, specs=specs, group_name=group)
    def reference_table(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
        rows, rejects = read_source(landing.landing_dir / source)
        context.log.info(
            f"Loaded {rows.height} rows into {table.name} from landing/{source}, rejected {rejects.height}"
        )
        # A row per file (the knowledge base), or at WHOLE_FILE: a file none of whose records were read.
        whole_files = rejects.filter(pl.col("source_line") == WHOLE_FILE) if "source_line" in rejects else rejects
        for file, reason in whole_files.select("source_file", "reason").iter_rows():
            context.log.warning(f"landing/{source}: {file} not loaded: {reason}")
        yield from warehouse.write({table: rows, quarantine: rejects})

    return reference_table
