"""Identity fixtures: the portraits and backends, loaded once per session (models are slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonic_ext.identity import DlibBackend, InsightFaceBackend, Portrait, load_portrait

from ..group_photo import group_photo
from .tiny_pack import make_pack

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
PORTRAITS = ("obama", "obama2", "biden")


@pytest.fixture(scope="session")
def portraits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Portrait]:
    """The fixture portraits, and "group": Biden, Obama and Eileen Collins in one picture."""
    group = group_photo(tmp_path_factory.mktemp("group") / "group.jpg")
    return {**{name: load_portrait(FACES / f"{name}.jpg") for name in PORTRAITS},
            "group": load_portrait(group)}


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
