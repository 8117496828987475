"""Alembic migrations of the consent registry, run by `RegistryDatabase.open`."""
