"""Identity fixtures: the portraits and backends, loaded once per session (models are slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonic_ext.identity import DlibBackend, InsightFaceBackend, Portrait, load_portrait

from .tiny_pack import make_pack

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
PORTRAITS = ("obama", "obama2", "biden", "obama_and_biden")


@pytest.fixture(scope="session")
def portraits() -> dict[str, Portrait]:
    return {name: load_portrait(FACES / f"{name}.jpg") for name in PORTRAITS}


@pytest.fixture(scope="session")
def dlib_backend() -> DlibBackend:
    return DlibBackend()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("models")
    make_pack(models_dir)
    return models_dir


@pytest.fixture(scope="session")
def insightface_backend(tiny_models_dir: Path) -> InsightFaceBackend:
    return InsightFaceBackend(tiny_models_dir / "insightface" / "tiny_test")
