from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

import sonic_ext
from sonic_ext import InputError, Settings


def test_explicit_values_win_over_environment_and_defaults(tmp_path: Path) -> None:
    env = {"SONIC_HOME": str(tmp_path / "env-home"), "SONIC_MODELS_DIR": str(tmp_path / "env-m")}
    s = Settings.from_environment(env, home=tmp_path / "flag-home", models_dir=tmp_path / "flag-m")
    assert s.home == tmp_path / "flag-home"
    assert s.models_dir == tmp_path / "flag-m"


def test_environment_wins_over_defaults(tmp_path: Path) -> None:
    env = {"SONIC_HOME": str(tmp_path / "h"), "SONIC_DB_URL": "postgresql://db/sonic",
           "SONIC_POLICY": str(tmp_path / "p.toml"), "SONIC_LOG_LEVEL": "debug"}
    s = Settings.from_environment(env)
    assert s.home == tmp_path / "h"
    assert s.models_dir == tmp_path / "h" / "models"
    assert s.database_url == "postgresql://db/sonic"
    assert s.policy_path == tmp_path / "p.toml"
    assert s.log_level == "DEBUG"


def test_standalone_default_is_xdg_data_home(tmp_path: Path) -> None:
    assert Settings.from_environment({"HOME": str(tmp_path)}).home == \
        tmp_path / ".local" / "share" / "sonic"
    assert Settings.from_environment({"XDG_DATA_HOME": str(tmp_path / "xdg")}).home == \
        tmp_path / "xdg" / "sonic"


def test_webui_defaults_live_in_the_hosts_data_and_models_folders(tmp_path: Path) -> None:
    s = Settings.for_webui(tmp_path / "webui", tmp_path / "webui" / "models", env={})
    assert s.home == tmp_path / "webui" / "sonic"
    assert s.models_dir == tmp_path / "webui" / "models" / "Sonic"
    assert s.host == "webui"
    flagged = Settings.for_webui(tmp_path / "w", tmp_path / "w" / "models", env={},
                                 home=tmp_path / "elsewhere")
    assert flagged.home == tmp_path / "elsewhere"


def test_sqlite_registry_under_home_by_default(settings: Settings) -> None:
    assert settings.database_url == f"sqlite:///{settings.home / 'registry.db'}"


def test_bad_log_level_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="SONIC_LOG_LEVEL: unknown level 'LOUD'"):
        Settings.from_environment({"SONIC_LOG_LEVEL": "loud", "HOME": str(tmp_path)})


def test_ensure_dirs_makes_private_folders_for_keys_and_evidence(settings: Settings) -> None:
    settings.ensure_dirs()
    for folder in (settings.outputs_dir, settings.manifests_dir, settings.logs_dir):
        assert folder.is_dir()
    for private in (settings.keys_dir, settings.evidence_dir, settings.cache_dir):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:secret@db/sonic", "postgresql://u:***@db/sonic"),
    ("postgresql://u@db:5433/sonic?password=secret&sslmode=require",
     "postgresql://u@db:5433/sonic"),
    ("postgresql+psycopg://:secret@db/sonic", "postgresql+psycopg://:***@db/sonic"),
])
def test_describe_names_the_database_without_its_credentials(tmp_path: Path, url: str,
                                                             shown: str) -> None:
    """Which database a machine uses is what an operator of several compares; never its
    password."""
    s = Settings.from_environment({"SONIC_DB_URL": url, "HOME": str(tmp_path)})
    assert s.describe()["database"] == shown
    assert "secret" not in str(s.describe())


def test_queue_mode_keeps_the_registry_in_the_queues_database(tmp_path: Path) -> None:
    url = "postgresql://sonic:secret@db/sonic"
    queued = Settings.from_environment({"SONIC_QUEUE_URL": url, "HOME": str(tmp_path)})
    assert (queued.queue_url, queued.database_url) == (url, url)
    assert queued.describe()["jobs"].startswith("queue")
    same = Settings.from_environment({"SONIC_DB_URL": url, "HOME": str(tmp_path)},
                                     queue_url="postgresql+psycopg://sonic:secret@db/sonic")
    assert same.database_url == "postgresql+psycopg://sonic:secret@db/sonic"
    with pytest.raises(InputError, match="SONIC_DB_URL: queue mode keeps the registry"):
        Settings.from_environment({"SONIC_DB_URL": "postgresql://sonic@other/sonic",
                                   "HOME": str(tmp_path)}, queue_url=url)
    assert Settings.from_environment({"HOME": str(tmp_path)}).describe()["jobs"] == "in-process"


def test_only_the_settings_module_reads_environment_variables() -> None:
    package = Path(sonic_ext.__file__).parent
    readers = re.compile(r"os\.environ|os\.getenv|getenv\(|environ\[")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "settings.py" and readers.search(p.read_text())]
    assert offenders == []


def test_the_admin_token_can_come_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  from-a-file\n")
    env = {"SONIC_ADMIN_TOKEN_FILE": str(token)}
    assert Settings.from_environment(env, home=tmp_path).admin_token == "from-a-file"
    assert Settings.from_environment({**env, "SONIC_ADMIN_TOKEN": "direct"},
                                     home=tmp_path).admin_token == "direct"
    token.write_text("\n")
    with pytest.raises(InputError, match="SONIC_ADMIN_TOKEN_FILE: .* is empty"):
        Settings.from_environment(env, home=tmp_path)
    with pytest.raises(InputError, match="SONIC_ADMIN_TOKEN_FILE: cannot read"):
        Settings.from_environment({"SONIC_ADMIN_TOKEN_FILE": str(tmp_path / "nope")},
                                  home=tmp_path)


def test_cors_origins_come_from_the_environment_and_must_be_origins(tmp_path: Path) -> None:
    settings = Settings.from_environment(
        {"SONIC_API_CORS_ORIGINS": "https://studio.example, http://127.0.0.1:8080/"},
        home=tmp_path)
    assert settings.api_cors_origins == ("https://studio.example", "http://127.0.0.1:8080")
    assert Settings.from_environment({}, home=tmp_path).api_cors_origins == ()
    for bad in ("*", "studio.example", "https://studio.example/app"):
        with pytest.raises(InputError, match="SONIC_API_CORS_ORIGINS: .* is not a web origin"):
            Settings.from_environment({"SONIC_API_CORS_ORIGINS": bad}, home=tmp_path)
