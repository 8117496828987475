"""Fixtures for the API tests: real servers on 127.0.0.1 running the router as a host mounts it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from sonic_ext import Settings, SonicService
from sonic_ext.adapters.api.auth import ApiAuth
from tests.api.router_app import router_app
from tests.conftest import write_tone_wav
from tests.evidence import write_release_pdf
from tests.servers import serve_in_thread

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
ADMIN_TOKEN = "adm-7f3c9e"
USERS = {"ops": "pw-ops", "qa": "pw-qa"}
OPS = ("ops", USERS["ops"])
QA = ("qa", USERS["qa"])
ADMIN = {"X-Sonic-Admin-Token": ADMIN_TOKEN}

Serve = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """`with serve(service) as base:` the router on 127.0.0.1 with the ops and qa users."""

    def start(service: SonicService, users: dict[str, str] | None = None
              ) -> AbstractContextManager[str]:
        return serve_in_thread(router_app(service, ApiAuth(users=USERS if users is None
                                                           else users)))

    return start


def make_service(home: Path, models_dir: Path | None = None,
                 admin_token: str | None = ADMIN_TOKEN) -> SonicService:
    settings = Settings.from_environment({}, home=home, models_dir=models_dir,
                                         admin_token=admin_token)
    settings.ensure_dirs()
    return SonicService(settings)


@pytest.fixture
def admin_service(tmp_path: Path) -> SonicService:
    """An installation with an admin token and no model weights (nothing generates)."""
    return make_service(tmp_path / "home")


@pytest.fixture
def admin_api(serve: Serve, admin_service: SonicService) -> Iterator[str]:
    with serve(admin_service) as base:
        yield f"{base}/sonic/v1"


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "speech.wav", seconds=1.5)


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    return write_release_pdf(tmp_path / "release.pdf")
