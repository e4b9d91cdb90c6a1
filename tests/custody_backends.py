"""The custody log's storage backends, so one set of behavioural tests runs over SQLite and PostgreSQL.

Its fixtures are registered in conftest.py for every test module.

`custody_backend` selects the backend the way an installation does (FACEPROOF_CUSTODY_URL set or not), so
stores opened through `provenance.custody.open_store` (also in child processes) land in the same place.
"""

from __future__ import annotations

import sqlite3

import pytest

from provenance.custody import open_store
from provenance.custody.records import CustodyStore
from provenance.installation import Installation


class SQLiteBackend:
    name = "sqlite"
    refused: type[Exception] = sqlite3.DatabaseError  # what a refused UPDATE or DELETE raises

    def open(self) -> CustodyStore:
        return open_store(Installation.from_environment().custody_url, Installation.from_environment().custody_db_path)

    def tamper(self, store: CustodyStore, *statements: tuple) -> None:
        """What an attacker with the file does: drop the append-only triggers, then rewrite rows."""
        db = store.connection
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            db.execute(*statement)


class PostgresBackend(SQLiteBackend):
    name = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.refused = psycopg.Error

    def tamper(self, store: CustodyStore, *statements: tuple) -> None:
        """What a database superuser does, in a session of its own: drop the triggers, then rewrite rows."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as admin:
            triggers = admin.execute(
                "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            ).fetchall()
            for name, table in triggers:
                admin.execute(f"DROP TRIGGER {name} ON {table}")
            for sql, *params in statements:  # the SQLite tests' statements, with psycopg's placeholders
                admin.execute(sql.replace("?", "%s"), *params)


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL server for the session (tests/postgres_cluster.py); skips where none can run."""
    from tests import postgres_cluster as pg

    if reason := pg.missing_reason():
        pytest.skip(reason)
    with pg.running_cluster() as cluster:
        yield cluster


def _installation_in_postgres(cluster, monkeypatch) -> PostgresBackend:
    """This installation's custody log in a new schema of the session's PostgreSQL cluster."""
    url = cluster.schema_url()
    monkeypatch.setenv("FACEPROOF_CUSTODY_URL", url)
    return PostgresBackend(url)


@pytest.fixture
def postgres_backend(postgres_cluster, monkeypatch) -> PostgresBackend:
    return _installation_in_postgres(postgres_cluster, monkeypatch)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def custody_backend(request, monkeypatch) -> SQLiteBackend:
    if request.param == "sqlite":
        return SQLiteBackend()  # conftest's _isolated_home has cleared FACEPROOF_CUSTODY_URL
    return _installation_in_postgres(request.getfixturevalue("postgres_cluster"), monkeypatch)
