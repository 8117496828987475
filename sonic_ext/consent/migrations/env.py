"""Alembic environment: runs on the connection `RegistryDatabase` hands over, never a URL.

A new revision: change models.py, open a scratch registry at the current head, then call
`alembic.command.revision(config, message, autogenerate=True)` with a Config built like
`database._run_alembic` builds it; review the generated file before committing it.
"""

from __future__ import annotations

from alembic import context

from sonic_ext.consent.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
