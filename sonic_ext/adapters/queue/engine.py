"""The queue engine: procrastinate on the registry's own PostgreSQL database.

Why procrastinate and not Celery + Redis (the issue's pitfalls): a job is a row fetched with
`FOR UPDATE SKIP LOCKED`, so two workers never take the same one; there is no visibility
timeout, so a job that runs for hours is never delivered twice (a worker's heartbeat, not the
job's age, says whether it is still alive); and the queue entry is inserted in the same
transaction as our job row (`defer_in`), so the API records a job and enqueues it together or
not at all. There is no broker to run, back up or lose: the database the registry needs anyway
is the broker. Workers run sync tasks in a thread of their own process (no fork, so CUDA is
initialised once per process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ...errors import InputError, NotAvailable
from ...service import SonicService
from ...settings import ENV_QUEUE_URL

QUEUE_NAME = "sonic"
GENERATE_TASK = "sonic.generate"
# Any constant shared by every process; distinct from the registry's migration lock.
_NODE_LOCK_KEY = 0x50_4E_49_44


def require_postgresql(url: str, field: str) -> str:
    """`url` as SQLAlchemy takes it (postgresql+psycopg://...), or InputError: the queue and
    the registry share one PostgreSQL database, which every node reaches."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy raises ArgumentError or ValueError
        raise InputError(field, f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() != "postgresql":
        raise InputError(field, "queue mode needs a PostgreSQL database "
                                "(postgresql://user:password@host/db), which every API "
                                "replica and worker reaches; the registry lives there too")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_conninfo(url: str) -> str:
    """The SQLAlchemy URL as psycopg's own connection string (procrastinate's connector)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _procrastinate() -> Any:
    """The procrastinate package; NotAvailable, naming the extra, when it is not installed."""
    try:
        import procrastinate
        import procrastinate.schema
    except ImportError:
        raise NotAvailable("queue mode needs procrastinate, which is not installed",
                           hint="pip install 'sd-webui-sonic[queue]'") from None
    return procrastinate


def procrastinate_app(url: str) -> Any:
    """A procrastinate App on `url` (not opened)."""
    procrastinate = _procrastinate()
    return procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=libpq_conninfo(url)))


def prepare_node(service: SonicService) -> Engine:
    """What every API replica and worker needs before its first job, made once however many
    start at once (one advisory lock; the first makes, the others find it made): procrastinate's
    tables and functions, and the home's development signing keys and watermark key, which
    every node of a shared home must sign and mark with alike. The registry's engine."""
    require_postgresql(service.settings.queue_url or "", ENV_QUEUE_URL)  # also when from env
    schema = _procrastinate().schema.SchemaManager.get_schema()
    engine = service.registry.database.engine
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": _NODE_LOCK_KEY})
        if connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            # on the driver's cursor without parameters: the script has literal % signs
            connection.connection.cursor().execute(schema)
        if service.capabilities.provenance:
            service.credentials()
            service.watermark_key()
    return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction on the queue's rows: commits on success, rolls back on an
    error (the API replicas' and the workers' every read and write of them)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def defer_in(connection: Connection, job_id: str) -> int:
    """Enqueue the generation of `job_id` inside the caller's transaction (procrastinate's own
    SQL function, what its `defer` calls): it is visible to workers only if the caller commits.
    The queue entry's id."""
    return connection.execute(
        text("SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, "
             "NULL, CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))"),
        {"queue": QUEUE_NAME, "task": GENERATE_TASK,
         "args": json.dumps({"job_id": job_id})}).scalar_one()
