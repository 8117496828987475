"""The registry's database: engine, migrations on open, and read/write transactions.

Writes are serialised: each write transaction first takes the registry lock (SQLite: `BEGIN
IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE` on the head row). The audit chain's next link
therefore always builds on the latest one, across threads, processes and machines alike. A writer
waits for the lock at most BUSY_TIMEOUT_S on either database, then gets RegistryBusy. Reads run
in ordinary transactions and never wait for writers (SQLite in WAL mode; PostgreSQL's MVCC).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..errors import NotAvailable, RegistryBusy
from .models import RegistryHead

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 60.0
_WRITE_OPTION = "sonic_registry_write"
# Any constant shared by every process of every installation; only PostgreSQL uses it.
_MIGRATION_LOCK_KEY = 0x50_4E_49_43


class RegistryDatabase:
    """One registry database; thread-safe, one per process and URL is enough."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _create_engine(url)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})

    @classmethod
    def open(cls, url: str) -> RegistryDatabase:
        """Connect and bring the schema up to date (a new database is created here)."""
        database = cls(url)
        database.upgrade()
        return database

    def upgrade(self, revision: str = "head") -> None:
        with self._write_engine.begin() as connection:
            _run_alembic(connection, "upgrade", revision)

    def downgrade(self, revision: str) -> None:
        with self._write_engine.begin() as connection:
            _run_alembic(connection, "downgrade", revision)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[tuple[Session, RegistryHead]]:
        """A transaction holding the registry lock; commits on success, rolls back on error.
        RegistryBusy when another writer held the lock past the busy timeout."""
        try:
            with Session(self._write_engine, expire_on_commit=False) as session, \
                    session.begin():
                if session.get_bind().dialect.name == "postgresql":  # SQLite: connect_args
                    session.execute(text("SELECT set_config('lock_timeout', :ms, true)"),
                                    {"ms": f"{BUSY_TIMEOUT_S * 1000:.0f}"})
                head = session.get(RegistryHead, 1, with_for_update=True)
                if head is None:
                    raise RuntimeError("registry database has no head row; it was not migrated")
                yield session, head
        except OperationalError as exc:
            if not _lock_wait_expired(exc):
                raise
            raise RegistryBusy(f"the consent registry is locked by another writer (waited "
                               f"{BUSY_TIMEOUT_S:g} s)", hint="try again shortly; if it "
                               "persists, look for a process holding the registry open (its "
                               "registry.db, or a session in its PostgreSQL database)") from None

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.0 reads a bare postgresql:// as psycopg2 (2.1 as psycopg); we ship 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "postgresql+psycopg":
        _require_psycopg()
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        _private_sqlite_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control from the sqlite3 module so BEGIN is ours (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _lock_wait_expired(error: OperationalError) -> bool:
    """SQLite's "database is locked", or PostgreSQL's lock_not_available (SQLSTATE 55P03)."""
    return "locked" in str(error.orig) or getattr(error.orig, "sqlstate", None) == "55P03"


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NotAvailable("SONIC_DB_URL names a PostgreSQL registry, but its driver (psycopg) "
                           "is not installed", hint="pip install 'sd-webui-sonic[postgres]'; in a "
                           "WebUI's venv: pip install 'psycopg[binary]>=3.1,<4'") from None


def _private_sqlite_file(path: Path) -> None:
    """Names and face embeddings are biometric data: the database is the owner's alone (0600,
    in a 0700 folder when we make it). SQLite gives its -wal and -shm files the database file's
    permissions, so creating the file first with 0600 covers them; an existing registry (an
    older version made it 0644) is tightened here, its WAL files too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if existing.exists() and not existing.is_symlink():
            existing.chmod(0o600)


def _run_alembic(connection: Connection, action: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes opening a new registry at once: one migrates, the other then finds it done.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": _MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)
