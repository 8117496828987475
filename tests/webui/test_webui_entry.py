"""The WebUI entry script loaded the way the hosts load it, against a fake of their modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI

from tests.servers import serve_in_thread

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def host(fake_webui: ModuleType) -> ModuleType:
    """The fake host after it loaded our script, the way modules/scripts.py does: the file is
    executed as a module that is not put in sys.modules."""
    from modules import script_callbacks

    script_callbacks.clear_callbacks()
    spec = importlib.util.spec_from_file_location("sonic_tab.py", REPO / "scripts" / "sonic_tab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return fake_webui


def test_tab_is_registered_with_our_id(host: object, tmp_path: Path) -> None:
    from modules import script_callbacks

    ((blocks, title, elem_id),) = script_callbacks.ui_tabs_callback()
    assert (title, elem_id) == ("Sonic", "sonic")
    labels = [c["props"].get("label") for c in blocks.get_config_file()["components"]
              if c["type"] == "tabitem"]
    assert labels == ["Generate", "History", "Consent", "Verify", "Models"]
    assert (tmp_path / "webui" / "sonic" / "logs" / "sonic.log").is_file()


def test_api_is_mounted_with_webui_folders_and_host_users(host: object, tmp_path: Path) -> None:
    from modules import script_callbacks, shared

    shared.cmd_opts.api_auth = "ops:pw1,qa:pw2"
    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    with serve_in_thread(app) as base:
        assert set(httpx.get(f"{base}/sonic/v1/health").json()) == {"status", "version"}
        health = httpx.get(f"{base}/sonic/v1/health", auth=("ops", "pw1")).json()
        assert health["home"] == str(tmp_path / "webui" / "sonic")
        assert health["models_dir"] == str(tmp_path / "webui" / "models" / "Sonic")
        assert health["host"] == "webui"
        assert httpx.get(f"{base}/sonic/v1/models").status_code == 401
        assert httpx.get(f"{base}/sonic/v1/models", auth=("qa", "pw2")).status_code == 200


def test_sonic_flags_override_the_webui_folders(host: object, tmp_path: Path) -> None:
    from modules import script_callbacks, shared

    shared.cmd_opts.sonic_home = str(tmp_path / "elsewhere")
    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    with serve_in_thread(app) as base:
        assert httpx.get(f"{base}/sonic/v1/health").json()["home"] == str(tmp_path / "elsewhere")


def test_a_startup_failure_shows_an_error_panel_and_a_503(host: object, tmp_path: Path) -> None:
    from modules import script_callbacks, shared

    bad = tmp_path / "policy.toml"
    bad.write_text("[faces]\nmin_size_px = 1\n")
    shared.cmd_opts.sonic_policy = str(bad)
    ((blocks, title, _),) = script_callbacks.ui_tabs_callback()
    assert title == "Sonic"
    texts = [c["props"].get("value", "") for c in blocks.get_config_file()["components"]]
    assert any("Sonic could not start" in str(t) and "faces.min_size_px" in str(t) for t in texts)
    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    with serve_in_thread(app, ready_path="/openapi.json") as base:
        health = httpx.get(f"{base}/sonic/v1/health")
        assert health.status_code == 503
        assert health.json()["error"]["code"] == "startup_failed"
        assert "faces.min_size_px" in health.json()["error"]["message"]


def test_preload_adds_our_flags_to_the_hosts_parser() -> None:
    import argparse

    spec = importlib.util.spec_from_file_location("sonic_preload", REPO / "preload.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-auth")  # one of the host's own flags
    module.preload(parser)
    opts = parser.parse_args(["--sonic-home", "/data/sonic", "--sonic-policy", "p.toml",
                              "--sonic-admin-token", "t", "--sonic-models-dir", "/m"])
    assert (opts.sonic_home, opts.sonic_policy, opts.sonic_admin_token, opts.sonic_models_dir) == \
        ("/data/sonic", "p.toml", "t", "/m")
    assert parser.parse_args([]).sonic_home is None


def test_the_admin_token_flag_reaches_the_service(fake_webui: ModuleType) -> None:
    from modules import shared

    from sonic_ext.adapters import webui
    from sonic_ext.adapters.webui_host import WebUIHost
    from sonic_ext.errors import AdminRequired

    shared.cmd_opts.sonic_admin_token = "s3cret-token"
    service = webui.make_service()
    service.require_admin("s3cret-token")
    with pytest.raises(AdminRequired):
        service.require_admin("s3cret-tokeN")
    assert isinstance(service.host, WebUIHost)
