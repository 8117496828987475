"""Consent fixtures: real dlib (and a tiny insightface pack) loaded once per session, a fresh
registry per test. Detection results are cached by portrait hash inside the shared backends, so
each portrait is analysed once however many registries enrol or check it.

The registry's and the gate's tests (REGISTRY_MODULES: all but the CLI's and the SQLite file's)
run twice: on SQLite and on a real PostgreSQL server (tests/postgres.py), each test in a database
of its own (tests/conftest.py's `database_url`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sonic_ext import Settings
from sonic_ext.consent import ConsentGate, ConsentRegistry
from sonic_ext.identity import FaceBackends
from sonic_ext.policy import Policy, load_policy

from ..evidence import write_release_pdf
from ..group_photo import group_photo
from ..identity.tiny_pack import PACK, make_pack, policy_toml

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
# policy/default.toml's dlib threshold (measured in tests/identity), stated again in the tests'
# own policy override so they keep testing it if the default moves.
DLIB_THRESHOLD = 0.93
REGISTRY_MODULES = {"test_audit", "test_concurrency", "test_consent_data", "test_credentials",
                    "test_gate", "test_gate_attacks", "test_migrations", "test_registry",
                    "test_registry_tamper"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = any("database_url" in marker.args[0]  # a test that names its database(s)
                 for marker in metafunc.definition.iter_markers("parametrize"))
    if (metafunc.module.__name__.rsplit(".", 1)[-1] in REGISTRY_MODULES
            and "database_url" in metafunc.fixturenames and not chosen):
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture(scope="session")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(policy_toml(DLIB_THRESHOLD))
    return path


@pytest.fixture(scope="session")
def policy(policy_file: Path) -> Policy:
    return load_policy(policy_file)


@pytest.fixture(scope="session")
def dlib_backends(tmp_path_factory: pytest.TempPathFactory) -> FaceBackends:
    """An installation without an insightface pack: dlib only."""
    return FaceBackends(tmp_path_factory.mktemp("no-models"))


@pytest.fixture(scope="session")
def both_backends(tmp_path_factory: pytest.TempPathFactory) -> FaceBackends:
    models_dir = tmp_path_factory.mktemp("models")
    make_pack(models_dir)
    return FaceBackends(models_dir, insightface_pack=PACK)


@pytest.fixture(scope="session")
def pair_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Biden and Obama side by side (tests/group_photo.py), without the bystander."""
    return group_photo(tmp_path_factory.mktemp("pair") / "pair.jpg", ("biden", "obama"))


@pytest.fixture(scope="session")
def group_with_bystander(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Biden, Obama and, at the lower right, Eileen Collins, who has not consented."""
    return group_photo(tmp_path_factory.mktemp("group") / "group.jpg")


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    return write_release_pdf(tmp_path / "release.pdf")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()




@pytest.fixture
def open_registry(settings: Settings, policy: Policy, dlib_backends: FaceBackends,
                  clock: FakeClock) -> Iterator[Callable[..., ConsentRegistry]]:
    opened: list[ConsentRegistry] = []

    def factory(backends: FaceBackends = dlib_backends,
                policy: Policy = policy) -> ConsentRegistry:
        registry = ConsentRegistry.open(settings, policy, backends=backends, clock=clock)
        opened.append(registry)
        return registry

    yield factory
    for registry in opened:
        registry.database.dispose()


@pytest.fixture
def registry(open_registry: Callable[..., ConsentRegistry]) -> ConsentRegistry:
    return open_registry()


@pytest.fixture
def gate(registry: ConsentRegistry) -> ConsentGate:
    return ConsentGate(registry)


def enrol(registry: ConsentRegistry, name: str, portrait: str, evidence: Path,
          purposes: tuple[str, ...] = ("education",), **kwargs):
    return registry.add_consent(name, [FACES / portrait], evidence, list(purposes),
                                kwargs.pop("expires", None), kwargs.pop("recorded_by", "operator"),
                                grantees=kwargs.pop("grantees", ("any",)), **kwargs)
