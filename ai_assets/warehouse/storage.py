"""Where the warehouse's rows live: Parquet files under one root, a local path or a URL.

Every table is a folder under the root. A daily table holds one file per day,
`<table>/created_date=YYYY-MM-DD/part.parquet`, plus a zero-row file of the contract's columns in
`created_date=__HIVE_DEFAULT_PARTITION__/` so its view has columns before the first day lands.
Any other table, and every mart, is one file, `<table>/data.parquet`.

Files are never opened for writing in place, so no reader ever blocks a writer or sees a half
written file. A commit writes its new files beside their targets under temporary names (which do
not end in `.parquet`, so no reader's glob picks them up), records the renames in a journal, then
renames them over the old files one after the other. A table and its failure or quarantine
sibling therefore change within a few milliseconds of each other, and a crash between two renames
leaves a journal that the next commit (or the next run's start) finishes.

Locally a rename replaces the file atomically. Object stores have no rename: a copy to the final
key is atomic per object there, which is all a reader needs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import fsspec
import polars as pl
from fsspec.implementations.local import LocalFileSystem

from ai_assets.warehouse.contract import PARTITION_COLUMN, Table

# The folder name DuckDB and polars read as a null partition value: the schema file's home.
SCHEMA_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_JOURNAL = "_journal"
# A temporary name must not end in .parquet: DuckDB's globs match hidden and underscore files too.
_TEMPORARY_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Storage:
    """A storage root (`/abs/path` or `s3://bucket/prefix`) and how to write and find files in it."""

    root: str
    # Passed to the fsspec filesystem of a URL root (e.g. endpoint_url, key, secret for s3).
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def at(cls, root: str | Path, options: Mapping[str, str] | None = None) -> Storage:
        text = str(root)
        if "://" not in text:
            text = str(Path(text).resolve())
        return cls(text.rstrip("/"), tuple(sorted((options or {}).items())))

    @property
    def is_local(self) -> bool:
        return "://" not in self.root

    @property
    def protocol(self) -> str:
        return self.root.split("://", 1)[0] if not self.is_local else "file"

    @property
    def fs_options(self) -> dict:
        """How to open the filesystem of a URL root: for this process and for dbt's profile alike.
        Without the listings cache off, a reader would never see a partition another process wrote."""
        return {"use_listings_cache": False, "skip_instance_cache": True, **dict(self.options)}

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.is_local:
            return LocalFileSystem(auto_mkdir=True)
        return fsspec.filesystem(self.protocol, **self.fs_options)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def day_file(self, table: Table, day: date | str) -> str:
        return self.path(table.name, f"{PARTITION_COLUMN}={day}", "part.parquet")

    def schema_file(self, table: Table) -> str:
        return self.path(table.name, f"{PARTITION_COLUMN}={SCHEMA_PARTITION}", "part.parquet")

    def whole_file(self, name: str) -> str:
        return self.path(name, "data.parquet")

    def scan_pattern(self, name: str, partitioned: bool) -> str:
        """What a reader globs for the table's rows."""
        return self.path(name, "*", "*.parquet") if partitioned else self.whole_file(name)

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def read_whole(self, name: str) -> pl.DataFrame | None:
        """A single-file table's rows, or None before its first write."""
        path = self.whole_file(name)
        if not self.exists(path):
            return None
        with self.fs.open(path, "rb") as handle:
            return pl.read_parquet(handle)

    # -- writing -------------------------------------------------------------------------------

    def commit(self, files: Mapping[str, pl.DataFrame]) -> None:
        """Replaces every path of `files` by its frame, all or (after a crash, once the next commit
        has finished the journal) nothing."""
        self.recover()
        token = uuid.uuid4().hex
        staged: dict[str, str] = {}
        try:
            for path, frame in files.items():
                temporary = f"{path}.{token}{_TEMPORARY_SUFFIX}"
                staged[temporary] = path
                with self.fs.open(temporary, "wb") as handle:
                    frame.write_parquet(handle)
        except BaseException:
            self._remove(staged)
            raise
        journal = self.path(_JOURNAL, f"{token}.json")
        self._write_text(journal, json.dumps(staged))
        self._apply(staged)
        self._discard(journal)  # unless a recovery in another process finished this commit first

    def ensure_schema_files(self, tables: Iterable[Table]) -> None:
        """The zero-row file of each daily table (rewritten, so a contract's new column shows), an
        empty file for each other table that has none yet, and the columns a contract gained added
        (null) to a single-file table an older version wrote."""
        files = {}
        for table in tables:
            if table.partitioned:
                files[self.schema_file(table)] = table.empty()
                continue
            existing = self.read_whole(table.name)
            if existing is None:
                files[self.whole_file(table.name)] = table.empty()
            elif set(table.column_names) - set(existing.columns):
                files[self.whole_file(table.name)] = with_contract_columns(table, existing)
        if files:
            self.commit(files)

    def recover(self) -> None:
        """Finishes the renames of commits that crashed halfway (their journals are still there)."""
        folder = self.path(_JOURNAL)
        if not self.exists(folder):
            return
        for journal in self.fs.ls(folder, detail=False):
            if not journal.endswith(".json"):
                continue
            try:
                with self.fs.open(journal, "r") as handle:
                    staged = json.load(handle)
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # finished (or being written) by another process meanwhile
            self._apply(staged)
            self._discard(journal)

    def _apply(self, staged: Mapping[str, str]) -> None:
        for temporary, final in staged.items():
            with suppress(FileNotFoundError):  # moved already, by a recovery in another process
                self.fs.mv(temporary, final)

    def _remove(self, staged: Iterable[str]) -> None:
        for temporary in staged:
            self._discard(temporary)

    def _discard(self, path: str) -> None:
        with suppress(FileNotFoundError):
            self.fs.rm(path)

    def _write_text(self, path: str, text: str) -> None:
        """Written whole or not at all: locally under a temporary name first."""
        if not self.is_local:
            self.fs.pipe_file(path, text.encode())
            return
        temporary = f"{path}{_TEMPORARY_SUFFIX}"
        self.fs.pipe_file(temporary, text.encode())
        self.fs.mv(temporary, path)


def with_contract_columns(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows an older version wrote, with the columns the contract gained since (null), in its order."""
    missing = [pl.lit(None, dtype).alias(n) for n, dtype in table.polars_schema.items() if n not in frame.columns]
    return frame.with_columns(missing).select(table.column_names)
