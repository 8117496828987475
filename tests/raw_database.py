"""The registry's tables opened directly, as someone with write access to the database would."""

from __future__ import annotations

import sqlite3

from sonic_ext import Settings


class RawDatabase:
    """The registry's tables as someone with write access to the database sees them: SQL
    straight to the server, `?` placeholders on either database, every statement committed."""

    def __init__(self, settings: Settings) -> None:
        if settings.db_url:
            import psycopg

            self._connection = psycopg.connect(settings.db_url, autocommit=True)
            self._placeholder = "%s"
        else:
            self._connection = sqlite3.connect(settings.registry_path, isolation_level=None)
            self._placeholder = "?"

    def execute(self, sql: str, params: tuple = ()):  # type: ignore[no-untyped-def]
        return self._connection.execute(sql.replace("?", self._placeholder), params)

    def take_write_lock(self) -> None:
        """Hold the lock every registry writer takes first, as another writer would, until
        ROLLBACK."""
        if isinstance(self._connection, sqlite3.Connection):
            self.execute("BEGIN IMMEDIATE")
        else:
            self.execute("BEGIN")
            self.execute("SELECT audit_seq FROM registry_head FOR UPDATE")

    def __enter__(self) -> RawDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()


def raw(settings: Settings) -> RawDatabase:
    return RawDatabase(settings)
