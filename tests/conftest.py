"""Shared fixtures: a private SONIC_HOME per test and small media files made on the spot."""

from __future__ import annotations

import math
import os
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from sonic_ext import Settings, SonicService

if TYPE_CHECKING:
    from tests.postgres import PostgresServer


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`heavy` tests (long clips, real weights, GPUs) run only with SONIC_TEST_HEAVY=1."""
    if os.environ.get("SONIC_TEST_HEAVY") == "1":
        return
    skip = pytest.mark.skip(reason="heavy: set SONIC_TEST_HEAVY=1 to run")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the run; each test that asks makes its own database."""
    from tests.postgres import PostgresServer

    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The registry's database: None for the installation's SQLite file (the default), or,
    parametrised indirectly with "postgresql", a new database on the real server."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    return request.getfixturevalue("postgres").create_database()


def database_env(database_url: str | None) -> dict[str, str]:
    """SONIC_DB_URL as a deployment sets it; nothing for the default SQLite file."""
    return {"SONIC_DB_URL": database_url} if database_url else {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    env = {"HOME": str(tmp_path / "user"), **database_env(database_url)}
    return Settings.from_environment(env, home=tmp_path / "home")


@pytest.fixture
def service(settings: Settings) -> SonicService:
    settings.ensure_dirs()
    return SonicService(settings)


@pytest.fixture
def portrait(tmp_path: Path) -> Path:
    """A 256x256 PNG: format checks need a decodable image, not a face."""
    path = tmp_path / "portrait.png"
    img = Image.new("RGB", (256, 256), (200, 170, 150))
    img.paste((60, 40, 30), (96, 96, 160, 176))
    img.save(path)
    return path


def write_tone_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = int(seconds * rate)
        wav.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / rate)))
                                 for i in range(frames)))
    return path


@pytest.fixture
def speech_wav(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "speech.wav")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random-weight tree in the official layout (`models make-tiny`), made once."""
    from sonic_ext.sonic.tiny import make_tiny_tree

    return make_tiny_tree(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture
def obama_consented(tmp_path: Path, tiny_models: Path, database_url: str | None) -> SonicService:
    """An installation with tiny test weights and Barack Obama's consent for education."""
    settings = Settings.from_environment(database_env(database_url), home=tmp_path / "home",
                                         models_dir=tiny_models)
    settings.ensure_dirs()
    service = SonicService(settings)
    from tests.evidence import write_release_pdf  # loads the consent package: only here

    evidence = write_release_pdf(tmp_path / "release.pdf")
    faces = Path(__file__).resolve().parent / "fixtures" / "faces"
    service.add_consent("Barack Obama", [faces / "obama.jpg"], evidence, ["education"], None,
                        "test operator", grantees=["any"])
    return service


def consent_ids(service: SonicService) -> tuple[str, ...]:
    """The ids of every consent in force: what a test's generation claims."""
    return tuple(r.id for r in service.list_consents() if r.status == "active")
