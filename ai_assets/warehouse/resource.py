"""The warehouse as a Dagster resource: sessions on the catalog's views, and writes to the storage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field, field_validator

from ai_assets import state
from ai_assets.settings import http_url, read_environment, setting, storage_url
from ai_assets.warehouse import registry, tables
from ai_assets.warehouse.catalog import open_catalog, prepare
from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.query import query_read_only
from ai_assets.warehouse.storage import Storage


@cache
def _storage(root: str, options: tuple[tuple[str, str], ...]) -> Storage:
    return Storage.at(root, dict(options))


class WarehouseResource(dg.ConfigurableResource):
    """`warehouse.duckdb` (views only, what users open) over Parquet files under `storage_root`."""

    catalog_path: str
    storage_root: str = setting(
        "AI_ASSETS_STORAGE_ROOT", "", "where the tables' Parquet files live: a folder or s3://bucket/prefix"
    )
    # Credentials come from the environment only (AWS_* variables), never a setting.
    storage_endpoint_url: str | None = setting(
        "AI_ASSETS_STORAGE_ENDPOINT_URL", None, "the S3-compatible endpoint of a URL root; unset: AWS's own"
    )
    lock_dir: str  # local folder of the few file locks still needed (upserts, preparation)
    marts: list[str] = Field(default_factory=list)  # dbt models published as files beside the tables
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
    def from_env(cls, environ: Mapping[str, str], data_dir: Path, marts: Sequence[str] = ()) -> WarehouseResource:
        return read_environment(
            cls,
            environ,
            catalog_path=str(data_dir / "warehouse.duckdb"),
            storage_root=str(data_dir / "tables"),
            lock_dir=str(data_dir / "locks"),
            marts=list(marts),
        )

    @property
    def storage_options(self) -> dict[str, str]:
        return {"endpoint_url": self.storage_endpoint_url} if self.storage_endpoint_url else {}

    @property
    def catalog(self) -> Path:
        return Path(self.catalog_path)

    @property
    def storage(self) -> Storage:
        # One Storage (and one filesystem client) per root, however often a step asks.
        return _storage(self.storage_root, tuple(sorted(self.storage_options.items())))

    def prepare(self) -> None:
        """Finishes crashed commits, converts a legacy warehouse, keeps the catalog's views current."""
        from ai_assets.quality.tables import TABLES  # the contracts import the warehouse package

        packaged = {table.name for table in TABLES}
        components = [table for table in registry.declared() if table.name not in packaged]
        prepare(self.catalog, self.storage, [*TABLES, *components], self.marts)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.prepare()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A session on the views; it holds no lock, so nothing waits for it."""
        with open_catalog(self.catalog, self.storage) as conn:
            yield conn

    def write(
        self,
        frames: Mapping[Table, pl.DataFrame],
        days: Sequence[date] | None = None,
        metadata: Mapping[Table, Mapping[str, Any]] | None = None,
    ) -> list[dg.MaterializeResult]:
        """`tables.write_tables`, then the materialisations to yield."""
        tables.write_tables(self.storage, frames, days)
        return tables.materializations(frames, metadata)

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """An exclusive lock named `name`, across processes (and machines, with AI_ASSETS_STATE_URL), for a
        read-then-write that must not interleave."""
        with state.lock(name, Path(self.lock_dir)):
            yield

    def query(self, sql: str, params: list | dict | None = None) -> pl.DataFrame:
        """A user's query, read-only, sandboxed and limited (see `query.query_read_only`)."""
        return query_read_only(
            self.catalog, self.storage, sql, params, timeout_s=self.query_timeout_s, max_rows=self.query_max_rows
        )

    def upsert(self, frames: Mapping[Table, pl.DataFrame]) -> None:
        tables.upsert(self.storage, frames, Path(self.lock_dir))
