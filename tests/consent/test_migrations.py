"""Alembic: a new database is created by the migrations, which match the models exactly."""

from __future__ import annotations

import multiprocessing
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from sonic_ext.consent import ConsentRegistry
from sonic_ext.consent.database import RegistryDatabase
from sonic_ext.consent.models import Base, RegistryHead
from sonic_ext.errors import NotAvailable

from .conftest import enrol
from .workers import open_database

TABLES = {"alembic_version", "audit_checkpoints", "audit_events", "consents", "face_references",
          "generations", "queue_jobs", "queue_workers", "registry_head", "subjects"}


def test_upgrade_from_empty_creates_the_schema(settings):
    database = RegistryDatabase.open(settings.database_url)
    try:
        assert set(inspect(database.engine).get_table_names()) == TABLES
        if database.engine.dialect.name == "sqlite":  # readers never wait for the writer
            with database.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with database.read() as session:
            head = session.get(RegistryHead, 1)
            assert (head.audit_seq, head.references_version) == (0, 0)
    finally:
        database.dispose()


def test_processes_opening_a_new_database_at_once_migrate_it_once(settings):
    """Every machine of a deployment starting together on an empty database: one creates the
    schema, the others wait for it and find it done."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    openers = [context.Process(target=open_database, args=(settings.database_url, barrier,
                                                           results)) for _ in range(4)]
    for opener in openers:
        opener.start()
    outcomes = [results.get(timeout=120) for _ in openers]
    for opener in openers:
        opener.join(timeout=30)
    assert outcomes == ["ok"] * 4
    database = RegistryDatabase(settings.database_url)
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").all() \
                == [("0005",)]
        assert set(inspect(database.engine).get_table_names()) == TABLES
    finally:
        database.dispose()


def test_models_match_the_migrations(settings):
    database = RegistryDatabase.open(settings.database_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        database.dispose()


def test_downgrade_and_upgrade_again(settings):
    database = RegistryDatabase.open(settings.database_url)
    try:
        database.downgrade("base")
        assert set(inspect(database.engine).get_table_names()) == {"alembic_version"}
        database.upgrade()
        assert set(inspect(database.engine).get_table_names()) == TABLES
    finally:
        database.dispose()


def test_opening_again_is_a_no_op(settings):
    url = settings.database_url
    RegistryDatabase.open(url).dispose()
    again = RegistryDatabase.open(url)
    try:
        with again.engine.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() == "0005"
    finally:
        again.dispose()


def test_a_0002_registry_gains_fingerprints_and_keeps_its_generations(open_registry, evidence):
    """Generations recorded before 0003 keep everything and read back without a fingerprint,
    which verification reports as `stripped-unconfirmed`."""
    registry: ConsentRegistry = open_registry()
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    registry.database.downgrade("0002")
    columns = {c["name"] for c in inspect(registry.database.engine).get_columns("generations")}
    assert "fingerprint" not in columns
    with registry.database.engine.begin() as connection:  # a row as 0.2 wrote it
        connection.execute(text(
            "INSERT INTO generations (id, output_sha256, watermark_id, manifest, consent_id, "
            "parameters, status, created_at) VALUES ('gen_old', NULL, 'wm-old', '{}', :id, '{}', "
            "'published', '2026-12-01 10:00:00.000000')"), {"id": consent.id})
    registry.database.upgrade()
    columns = {c["name"] for c in inspect(registry.database.engine).get_columns("generations")}
    assert "fingerprint" in columns
    traced = registry.trace_watermark("wm-old")
    assert traced is not None and traced.fingerprint is None
    assert (traced.generation.id, traced.consent.id) == ("gen_old", consent.id)
    # 0004 signs the registry: rows from before it are adopted by an admin, as the log has them
    assert not registry.verify_chain().ok
    assert registry.adopt_unsigned("operator")["consents"] == [consent.id]
    assert registry.verify_chain().ok


def test_a_postgresql_url_without_its_driver_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as where it was never installed
    with pytest.raises(NotAvailable, match=r"driver \(psycopg\) is not installed.*"
                                           r"sd-webui-sonic\[postgres\]"):
        RegistryDatabase.open("postgresql://sonic@127.0.0.1:9/sonic")
