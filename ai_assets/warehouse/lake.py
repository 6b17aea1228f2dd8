"""The warehouse's tables in DuckLake: a catalog database and Parquet files under the storage root.

The catalog is a SQLite file under the data directory (the one local database several processes
write and read at once: a DuckDB file takes one writer process), or PostgreSQL when
AI_ASSETS_STATE_URL points at one, so every machine shares it. The data are Parquet files under
the storage root, a folder or `s3://bucket/prefix`. DuckLake's transactions give what a data team
expects of an open table format: a write of several tables (a table and its failures sibling) is
one snapshot or nothing, a reader sees whole snapshots only, and every past snapshot stays
queryable (`ai-assets query --at`).

Extensions are loaded from the files the `duckdb-extension-*` wheels install, never downloaded.
Commits take the lake's lock (a file lock; an advisory lock on PostgreSQL): DuckLake retries
conflicting commits itself only on some catalogs, and a SQLite catalog answers "database is
locked" to a second writer.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb

from ai_assets import state
from ai_assets.secrets import STATE_URL_VARIABLE, add_secret_values, from_environment, scrub_secrets

ALIAS = "lake"
T = TypeVar("T")
# Errors a commit or a catalog read gets when another process holds the catalog for a moment, or
# committed a conflicting change first (or, on a new PostgreSQL catalog, created DuckLake's tables
# first): the transaction, or the attach, is tried again.
_TRANSIENT = (
    "database is locked",
    "Transaction conflict",
    "Failed to flush changes",
    "could not serialize",
    "duplicate key value violates unique constraint",
    # Two processes attaching a new PostgreSQL catalog at once: one's CREATE TABLE of DuckLake's
    # own tables finds the other's ('relation "ducklake_metadata" already exists'); attached again,
    # it finds the catalog made.
    "Failed to initialize DuckLake",
)


def extension_file(name: str) -> str:
    """The extension as the `duckdb-extension-<name>` wheel installs it, for this DuckDB."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the DuckDB extension {name} is not installed: pip install 'duckdb-extension-{name.replace('_', '-')}"
            f"=={duckdb.__version__}' (the project's dependencies pull it in)"
        )
    path = Path(spec.submodule_search_locations[0]) / "extensions" / f"v{duckdb.__version__}"
    return str(path / f"{name}.duckdb_extension")


def table_names(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """The lake's tables (and views), as a session on it sees them."""
    query = "SELECT table_name FROM duckdb_tables() WHERE database_name = ?"
    views = "SELECT view_name FROM duckdb_views() WHERE database_name = ?"
    return {name for (name,) in conn.execute(f"{query} UNION ALL {views}", [ALIAS, ALIAS]).fetchall()}


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Lake:
    """Where the lake is. `catalog` is the SQLite file's path; on PostgreSQL the URL is read from
    the environment at each connection, so it is never held in a setting or shown."""

    catalog: str
    data_path: str
    lock_dir: str
    endpoint_url: str | None = None  # of an S3-compatible store; unset: AWS's own

    @property
    def catalog_url(self) -> str:
        return from_environment(STATE_URL_VARIABLE)

    @property
    def on_postgres(self) -> bool:
        return state.is_postgres_url(self.catalog_url)

    def describe(self) -> str:
        where = f"PostgreSQL ({STATE_URL_VARIABLE})" if self.on_postgres else self.catalog
        return f"DuckLake, catalog {where}, data {self.data_path}"

    def catalog_password(self) -> str:
        """The catalog URL's password, from `user:password@` or `?password=`."""
        if not self.on_postgres:
            return ""
        parts = urlsplit(self.catalog_url)
        password = parts.password or parse_qs(parts.query).get("password", [""])[-1]
        return unquote(password) if password else ""

    def exists(self) -> bool:
        return self.on_postgres or Path(self.catalog).exists()

    def has_table(self, name: str) -> bool:
        """Whether the lake holds table `name` yet, asked read-only: no catalog is created for asking
        (on PostgreSQL that would fix the lake's data path to this machine's storage root)."""
        if not self.exists():
            return False
        try:
            with self.connect(read_only=True) as conn:
                return name in table_names(conn)
        except duckdb.Error as error:
            if "creating a new DuckLake is explicitly disabled" in str(error):
                return False  # a PostgreSQL catalog nobody has written yet
            raise

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    def attach_path(self) -> str:
        """What ATTACH takes: on PostgreSQL the URL without its password, which goes to a secret
        instead (a session lists attached paths in `duckdb_databases()`, never a secret's values)."""
        if self.on_postgres:
            return f"ducklake:postgres:{_without_password(self.catalog_url)}"
        return f"ducklake:sqlite:{self.catalog}"

    def attach_hint(self) -> str:
        """The SQL an analyst runs in any DuckDB client to read the lake (a PostgreSQL URL by its variable's name)."""
        catalog = f"postgres:<{STATE_URL_VARIABLE}>" if self.on_postgres else f"sqlite:{self.catalog}"
        kind = "postgres" if self.on_postgres else "sqlite"
        return (
            f"INSTALL ducklake; INSTALL {kind}; ATTACH 'ducklake:{catalog}' AS {ALIAS} "
            f"(DATA_PATH {sql_literal(self.data_folder())}, READ_ONLY); USE {ALIAS};"
        )

    def data_folder(self) -> str:
        return self.data_path.rstrip("/") + "/"

    def connect(self, *, read_only: bool = False, at: int | str | None = None) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB session with the lake attached as `lake` and in use. `at` (a
        snapshot id, or a time DuckDB reads as a TIMESTAMPTZ) attaches the lake as it was then."""
        conn = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        try:
            for name in self.extensions():
                conn.execute(f"LOAD {sql_literal(extension_file(name))}")
            if not self.on_s3:
                Path(self.data_path).mkdir(parents=True, exist_ok=True)
            else:
                conn.execute(self._s3_secret())
            if password := self.catalog_password():
                conn.execute(f"CREATE TEMPORARY SECRET (TYPE postgres, PASSWORD {sql_literal(password)})")
            if not self.on_postgres:
                _use_wal(Path(self.catalog))
            options = [f"DATA_PATH {sql_literal(self.data_folder())}"]
            if read_only:
                options.append("READ_ONLY")
            if isinstance(at, int):
                options.append(f"SNAPSHOT_VERSION {at}")
            elif at is not None:
                options.append(f"SNAPSHOT_TIME {sql_literal(str(at))}")
            statement = f"ATTACH {sql_literal(self.attach_path())} AS {ALIAS} ({', '.join(options)})"
            _transiently(lambda: conn.execute(statement))
            conn.execute(f"USE {ALIAS}")
        except duckdb.Error as error:
            conn.close()
            hint = ""
            if "does not match existing data path" in str(error):
                hint = (
                    f". Every machine sharing {STATE_URL_VARIABLE} (the lake's catalog) must set the same "
                    "AI_ASSETS_STORAGE_ROOT (the lake's files), e.g. s3://bucket/prefix"
                )
            raise type(error)(f"cannot open the lake ({self.describe()}): {scrub_secrets(str(error))}{hint}") from None
        return conn

    def install_extensions(self, directory: Path) -> None:
        """Installs the lake's extensions from the wheels into `directory`, for a client that loads
        them by name (dbt): with that directory set, its INSTALL finds them and downloads nothing."""
        config = {"extension_directory": str(directory), "autoinstall_known_extensions": False}
        with duckdb.connect(config=config) as conn:
            installed = {
                name
                for (name,) in conn.execute("SELECT extension_name FROM duckdb_extensions() WHERE installed").fetchall()
            }
            for name in self.extensions():
                if name not in installed:
                    conn.execute(f"INSTALL {sql_literal(extension_file(name))}")

    def extensions(self) -> list[str]:
        names = ["ducklake", "postgres_scanner" if self.on_postgres else "sqlite_scanner"]
        return [*names, "httpfs"] if self.on_s3 else names

    def store_options(self) -> dict[str, str]:
        """Where the S3 store is, as DuckDB's S3 secret takes it (this session's, and dbt's profile's)."""
        options = {"region": store_region()}
        if self.endpoint_url:
            endpoint = urlsplit(self.endpoint_url)
            options.update(endpoint=endpoint.netloc, url_style="path", use_ssl=str(endpoint.scheme == "https").lower())
        return options

    def _s3_secret(self) -> str:
        """The store's credentials (boto's chain, `store_credentials`), as a secret of this session only."""
        options = {"type": "s3", **store_credentials(), **self.store_options()}
        body = ", ".join(f"{key} {sql_literal(value)}" for key, value in options.items() if value)
        return f"CREATE OR REPLACE TEMPORARY SECRET lake_store ({body})"

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A session on the lake, cheap: a cursor of this process's own attached lake."""
        shared = _shared(self)
        if self.on_s3:
            _renew_store_secret(self, shared)
        cursor = shared.cursor()
        try:
            cursor.execute(f"USE {ALIAS}")
            yield cursor
        finally:
            cursor.close()

    def commit(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`work(session)` in one transaction, holding the lake's lock: all its changes are one
        snapshot, or (an error, a crash) none. Tried again when the catalog was busy."""

        def attempt() -> T:
            with state.lock("lake", Path(self.lock_dir)), self.session() as conn:
                conn.execute("BEGIN")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                # A COMMIT that fails ends the transaction itself: its error (a conflict, a busy
                # catalog) is what the retry looks at, not a ROLLBACK's "no transaction is active".
                conn.execute("COMMIT")
                return result

        return _transiently(attempt)


def _without_password(url: str) -> str:
    """The URL as libpq's `key=value` words, its password left out (DuckDB's PostgreSQL secret adds
    it, and with a secret the connection string must be in that form)."""
    parts = urlsplit(url)
    words = {"host": parts.hostname, "port": parts.port, "dbname": parts.path.lstrip("/"), "user": parts.username}
    words.update((key, values[-1]) for key, values in parse_qs(parts.query).items() if key != "password")
    return " ".join(f"{key}={_libpq_value(unquote(str(value)))}" for key, value in words.items() if value)


def _libpq_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _transiently(run: Callable[[], T], attempts: int = 6) -> T:
    for attempt in range(attempts):
        try:
            return run()
        except duckdb.Error as error:
            if attempt == attempts - 1 or not any(text in str(error) for text in _TRANSIENT):
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def _use_wal(catalog: Path) -> None:
    """A new SQLite catalog in WAL mode (it stays so): readers then never wait for a writer."""
    if catalog.exists():
        return
    catalog.parent.mkdir(parents=True, exist_ok=True)
    conn = state.connect(catalog)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


_SHARED: dict[tuple[Lake, str], duckdb.DuckDBPyConnection] = {}
_SHARED_LOCK = threading.Lock()
_STORE_SECRETS: dict[int, str] = {}  # the S3 secret each shared session holds
# The S3 secret's credential fields, and the variables that hold them (and dbt's profile reads).
STORE_VARIABLES = {
    "key_id": "AWS_ACCESS_KEY_ID",
    "secret": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
}
# Where boto's chain looks; resolved once per process for each of their values (the chain's last
# links ask the instance's metadata service over the network).
_CREDENTIAL_VARIABLES = (
    *STORE_VARIABLES.values(),
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_CREDENTIALS: dict[tuple[str | None, ...], object] = {}
_CREDENTIALS_LOCK = threading.Lock()


def store_credentials() -> dict[str, str]:
    """The S3 store's credentials as boto finds them: the AWS_* variables, else AWS_PROFILE's
    shared files, web identity, the container's or the instance's role. Temporary ones are renewed
    by botocore shortly before they expire, and a session takes the renewed ones when it starts;
    none found means anonymous access (asked again next time: a metadata service may be slow to answer)."""
    import botocore.session

    variables = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    with _CREDENTIALS_LOCK:
        credentials = _CREDENTIALS.get(variables)
        if credentials is None:
            credentials = botocore.session.get_session().get_credentials()
            if credentials is None:
                return {}
            _CREDENTIALS[variables] = credentials
    frozen = credentials.get_frozen_credentials()
    add_secret_values(frozen.secret_key, frozen.token)  # scrubbed from errors like the variables' values
    return {"key_id": frozen.access_key, "secret": frozen.secret_key, "session_token": frozen.token or ""}


def store_region() -> str:
    """AWS_REGION, else AWS_DEFAULT_REGION or the profile's region (boto's configuration), else us-east-1."""
    names = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE")
    return _region(tuple(os.environ.get(name) for name in names))


@functools.cache
def _region(variables: tuple[str | None, ...]) -> str:
    import botocore.session

    return variables[0] or botocore.session.get_session().get_config_variable("region") or "us-east-1"


def _renew_store_secret(lake: Lake, conn: duckdb.DuckDBPyConnection) -> None:
    """Replaces the shared session's S3 secret when the credentials changed (a role's renewal)."""
    statement = lake._s3_secret()
    with _SHARED_LOCK:
        if _STORE_SECRETS.get(id(conn)) != statement:
            conn.execute(statement)
            _STORE_SECRETS[id(conn)] = statement


def _shared(lake: Lake) -> duckdb.DuckDBPyConnection:
    """One attached lake per process and catalog, whose cursors are the sessions."""
    key = (lake, lake.catalog_url)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = lake.connect()
        return _SHARED[key]


def close_sessions() -> None:
    """Detaches every lake this process opened (tests that delete their data directory)."""
    with _SHARED_LOCK:
        for conn in _SHARED.values():
            conn.close()
        _SHARED.clear()
        _STORE_SECRETS.clear()
