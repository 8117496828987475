"""The fake WebUI host on sys.path for one test, the way the real hosts import our code."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sonic_ext.adapters import webui

REPO = Path(__file__).resolve().parents[2]
FAKE_HOST = Path(__file__).parent / "fake_host"
FAKE_FORGE = Path(__file__).parent / "fake_forge"
HOST_PACKAGES = ("modules", "modules_forge", "backend")


@pytest.fixture(scope="module")
def install() -> ModuleType:
    """`install.py` as a module, loaded from its file as the host runs it."""
    spec = importlib.util.spec_from_file_location("sonic_install", REPO / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_webui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh A1111 1.10.1 `modules` package, its folders under tmp_path/webui."""
    monkeypatch.syspath_prepend(str(FAKE_HOST))
    _forget_host_modules()
    from modules import paths_internal, shared

    monkeypatch.setattr(paths_internal, "data_path", str(tmp_path / "webui"))
    monkeypatch.setattr(paths_internal, "models_path", str(tmp_path / "webui" / "models"))
    for flag in vars(shared.cmd_opts):
        monkeypatch.setattr(shared.cmd_opts, flag, None)
    webui.make_service.cache_clear()
    yield sys.modules["modules"]
    webui.make_service.cache_clear()
    _forget_host_modules()


@pytest.fixture
def fake_forge(fake_webui: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The same `modules` plus Forge's `modules_forge` and `backend.memory_management`."""
    monkeypatch.syspath_prepend(str(FAKE_FORGE))
    from backend import memory_management

    return memory_management


def _forget_host_modules() -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in HOST_PACKAGES]:
        del sys.modules[name]
