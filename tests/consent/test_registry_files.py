"""The registry's files hold names and face embeddings (biometric data): its owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

from sonic_ext import Settings, SonicService


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_registry_and_its_wal_are_0600_and_evidence_0700(
        obama_consented: SonicService) -> None:
    settings = obama_consented.settings
    database = settings.registry_path
    assert obama_consented.list_consents()  # the registry is open, with a write behind it
    files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    assert all(f.exists() for f in files)
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert _mode(settings.evidence_dir) == 0o700
    assert all(_mode(f) == 0o600 for f in settings.evidence_dir.iterdir())


def test_an_older_world_readable_registry_is_tightened_when_opened(
        obama_consented: SonicService) -> None:
    settings = obama_consented.settings
    obama_consented.registry.database.dispose()
    settings.registry_path.chmod(0o644)  # as 0.1.0 left it
    reopened = SonicService(Settings.from_environment({}, home=settings.home,
                                                      models_dir=settings.models_dir))
    assert reopened.list_consents()
    assert _mode(settings.registry_path) == 0o600
