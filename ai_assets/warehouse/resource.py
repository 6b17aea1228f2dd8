"""The warehouse as a Dagster resource: sessions on the lake, writes in one transaction, queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
from pydantic import field_validator

from ai_assets import state
from ai_assets.settings import http_url, read_environment, setting, storage_url
from ai_assets.warehouse import registry, tables
from ai_assets.warehouse.catalog import prepare
from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.lake import Lake
from ai_assets.warehouse.migration import migrate_legacy
from ai_assets.warehouse.query import query_read_only


class WarehouseResource(dg.ConfigurableResource):
    """The tables in DuckLake: a catalog (`lake.sqlite`, or PostgreSQL with AI_ASSETS_STATE_URL) and
    Parquet files under `storage_root`."""

    catalog_path: str  # the SQLite catalog (unused on PostgreSQL)
    storage_root: str = setting(
        "AI_ASSETS_STORAGE_ROOT", "", "where the tables' Parquet files live: a folder or s3://bucket/prefix"
    )
    # Credentials come from the environment only (boto's chain: AWS_* variables, a profile, a role), never a setting.
    storage_endpoint_url: str | None = setting(
        "AI_ASSETS_STORAGE_ENDPOINT_URL", None, "the S3-compatible endpoint of a URL root; unset: AWS's own"
    )
    lock_dir: str  # local folder of the file locks (commits, upserts) when there is no AI_ASSETS_STATE_URL
    legacy_path: str = ""  # an earlier version's warehouse.duckdb, converted into the lake on first use
    query_timeout_s: float = setting(
        "AI_ASSETS_QUERY_TIMEOUT_S", 60.0, "seconds a user's query (ai-assets query) may run", ge=0.1
    )
    query_max_rows: int = setting("AI_ASSETS_QUERY_MAX_ROWS", 100_000, "rows a user's query may return", ge=1)

    @field_validator("storage_root")
    @classmethod
    def check_root(cls, value: str) -> str:
        if not value:
            raise ValueError("is required: a folder or s3://bucket/prefix")
        return storage_url(value) if "://" in value else str(Path(value).resolve())

    @field_validator("storage_endpoint_url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path) -> WarehouseResource:
        return read_environment(
            cls,
            environ,
            catalog_path=str(data_dir / "lake.sqlite"),
            storage_root=str(data_dir / "lake"),
            lock_dir=str(data_dir / "locks"),
            legacy_path=str(data_dir / "warehouse.duckdb"),
        )

    @property
    def lake(self) -> Lake:
        return Lake(self.catalog_path, self.storage_root, self.lock_dir, self.storage_endpoint_url)

    def prepare(self) -> None:
        """Every contracted table in the lake as its contract says; an earlier version's warehouse
        converted first."""
        from ai_assets.quality.tables import TABLES  # the contracts import the warehouse package

        packaged = {table.name for table in TABLES}
        contracts = [*TABLES, *(table for table in registry.declared() if table.name not in packaged)]
        prepare(self.lake, contracts)
        legacy = Path(self.legacy_path) if self.legacy_path else None
        if legacy and legacy.exists():
            with state.lock("migration", Path(self.lock_dir)):
                if legacy.exists():  # not converted meanwhile by another process
                    migrate_legacy(legacy, self.lake, contracts)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.prepare()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A session on the lake: it reads the snapshot current when each statement starts (in a
        transaction, the one current at its start) and holds no lock."""
        with self.lake.session() as conn:
            yield conn

    def write(
        self,
        frames: Mapping[Table, pl.DataFrame],
        days: Sequence[date] | None = None,
        metadata: Mapping[Table, Mapping[str, Any]] | None = None,
    ) -> list[dg.MaterializeResult]:
        """`tables.write_tables`, then the materialisations to yield."""
        tables.write_tables(self.lake, frames, days)
        return tables.materializations(frames, metadata)

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """An exclusive lock named `name`, across processes (and machines, with AI_ASSETS_STATE_URL), for a
        read-then-write that must not interleave."""
        with state.lock(name, Path(self.lock_dir)):
            yield

    def query(self, sql: str, params: list | dict | None = None, at: int | str | None = None) -> pl.DataFrame:
        """A user's query, read-only, sandboxed and limited (see `query.query_read_only`), on the
        lake as it is or, with `at` (a snapshot id or a time), as it was then."""
        return query_read_only(
            self.lake, sql, params, at=at, timeout_s=self.query_timeout_s, max_rows=self.query_max_rows
        )

    def upsert(self, frames: Mapping[Table, pl.DataFrame]) -> None:
        tables.upsert(self.lake, frames)
