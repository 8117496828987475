"""The one settings object. This is the only module that reads environment variables.

Precedence, highest first: explicit arguments (CLI flags, WebUI command-line flags), environment
variables, then defaults (standalone: `~/.local/share/sonic`; inside a WebUI: `<data>/sonic`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import InputError

ENV_HOME = "SONIC_HOME"
ENV_MODELS_DIR = "SONIC_MODELS_DIR"
ENV_DB_URL = "SONIC_DB_URL"
ENV_QUEUE_URL = "SONIC_QUEUE_URL"  # queue mode: the PostgreSQL database of queue and registry
ENV_POLICY = "SONIC_POLICY"
ENV_LOG_LEVEL = "SONIC_LOG_LEVEL"
ENV_SIGNING_CHAIN = "SONIC_SIGNING_CHAIN"
ENV_SIGNING_KEY = "SONIC_SIGNING_KEY"
ENV_TRUST_ANCHORS = "SONIC_TRUST_ANCHORS"
ENV_TSA_URL = "SONIC_TSA_URL"
ENV_ALLOWED_EKUS = "SONIC_ALLOWED_EKUS"
ENV_ADMIN_TOKEN = "SONIC_ADMIN_TOKEN"
ENV_ADMIN_TOKEN_FILE = "SONIC_ADMIN_TOKEN_FILE"  # a file holding it: kept out of ps and /proc
ENV_API_AUTH = "SONIC_API_AUTH"  # `serve`'s API users (USER:PASS,...), kept out of the process list
ENV_API_CORS_ORIGINS = "SONIC_API_CORS_ORIGINS"  # web origins whose pages may call the API
ENV_WATERMARK_KEY = "SONIC_WATERMARK_KEY"
ENV_CONSENT_KEY = "SONIC_CONSENT_KEY"
ENV_CONSENT_CHAIN = "SONIC_CONSENT_CHAIN"
ENV_CONSENT_ANCHORS = "SONIC_CONSENT_ANCHORS"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def default_standalone_home(env: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/sonic`, else `~/.local/share/sonic` (the XDG default)."""
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME") or Path.home()) / ".local" / "share"
    return base / "sonic"


@dataclass(frozen=True)
class Settings:
    """Where everything lives and how the installation is configured.

    `home` holds registry, keys, outputs, manifests and logs. Model weights live apart in
    `models_dir` because they are large and shared (in a WebUI: `models/Sonic`).
    """

    home: Path
    models_dir: Path
    db_url: str | None = None
    # Queue mode (`serve --queue`, `worker`): generations run on worker processes; the queue
    # lives in the registry's database, which is then this PostgreSQL URL.
    queue_url: str | None = None
    policy_path: Path | None = None
    log_level: str = "INFO"
    # Production signing: a PEM chain (leaf first) and its key; without them, development
    # credentials under <home>/keys. Trust anchors: the roots outputs must read back Trusted under.
    signing_chain: Path | None = None
    signing_key: Path | None = None
    trust_anchors: Path | None = None
    allowed_ekus: Path | None = None  # file of signer EKU OIDs verification accepts, one a line
    tsa_url: str | None = None
    # A deployment's shared watermark key file; None: <home>/keys/watermark.key, made on first use
    watermark_key_file: Path | None = None
    # A deployment's shared consent key (signs the registry); None: <home>/keys/consent-key.pem
    consent_key_file: Path | None = None
    # The consent key's certificate chain (PEM, leaf first) for consent credentials; None: a
    # development certificate under <home>/keys
    consent_chain_file: Path | None = None
    # The roots that chain vouches by (PEM), what auditors trust for consent; None: the chain's
    # last certificate
    consent_anchors_file: Path | None = None
    # Consent changes through the API and UI need this token; without one they are refused there
    # (the CLI, run by whoever owns the home folder, needs none).
    admin_token: str | None = field(default=None, repr=False, compare=False)
    api_auth: str | None = field(default=None, repr=False, compare=False)  # USER:PASS,...
    # Browser pages from these origins may call the standalone app's API (CORS); none by default
    api_cors_origins: tuple[str, ...] = ()
    host: str = field(default="standalone", compare=False)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        models_dir: str | os.PathLike[str] | None = None,
        policy_path: str | os.PathLike[str] | None = None,
        log_level: str | None = None,
        admin_token: str | None = None,
        queue_url: str | None = None,
        default_home: Path | None = None,
        default_models_dir: Path | None = None,
        host: str = "standalone",
    ) -> Settings:
        """Resolve settings from explicit values, then `env`, then defaults."""
        env = os.environ if env is None else env
        resolved_home = _path_or_none(home) or _path_or_none(env.get(ENV_HOME))
        resolved_home = resolved_home or default_home or default_standalone_home(env)
        resolved_models = _path_or_none(models_dir) or _path_or_none(env.get(ENV_MODELS_DIR))
        resolved_models = resolved_models or default_models_dir or resolved_home / "models"
        level = (log_level or env.get(ENV_LOG_LEVEL) or "INFO").upper()
        if level not in LOG_LEVELS:
            raise InputError(
                "--log-level" if log_level else ENV_LOG_LEVEL,
                f"unknown level {level!r}; use one of {', '.join(LOG_LEVELS)}",
            )
        chain, key = _path_or_none(env.get(ENV_SIGNING_CHAIN)), _path_or_none(env.get(ENV_SIGNING_KEY))
        if (chain is None) != (key is None):
            raise InputError(ENV_SIGNING_KEY if key is None else ENV_SIGNING_CHAIN,
                             "production signing needs both SONIC_SIGNING_CHAIN and "
                             "SONIC_SIGNING_KEY")
        queue_url = queue_url or env.get(ENV_QUEUE_URL) or None
        db_url = env.get(ENV_DB_URL) or None
        if queue_url and db_url and _database_of(db_url) != _database_of(queue_url):
            raise InputError(ENV_DB_URL, "queue mode keeps the registry in the queue's "
                                         "database, and SONIC_DB_URL names another one",
                             hint="unset SONIC_DB_URL, or give the queue the same URL")
        return cls(
            signing_chain=chain, signing_key=key,
            trust_anchors=_path_or_none(env.get(ENV_TRUST_ANCHORS)),
            allowed_ekus=_path_or_none(env.get(ENV_ALLOWED_EKUS)),
            tsa_url=env.get(ENV_TSA_URL) or None,
            watermark_key_file=_path_or_none(env.get(ENV_WATERMARK_KEY)),
            consent_key_file=_path_or_none(env.get(ENV_CONSENT_KEY)),
            consent_chain_file=_path_or_none(env.get(ENV_CONSENT_CHAIN)),
            consent_anchors_file=_path_or_none(env.get(ENV_CONSENT_ANCHORS)),
            home=resolved_home.expanduser().absolute(),
            models_dir=resolved_models.expanduser().absolute(),
            db_url=queue_url or db_url, queue_url=queue_url,
            policy_path=_path_or_none(policy_path) or _path_or_none(env.get(ENV_POLICY)),
            log_level=level,
            admin_token=admin_token or env.get(ENV_ADMIN_TOKEN) or read_secret_file(
                env.get(ENV_ADMIN_TOKEN_FILE), ENV_ADMIN_TOKEN_FILE),
            api_auth=env.get(ENV_API_AUTH) or None,
            api_cors_origins=parse_origins(env.get(ENV_API_CORS_ORIGINS), ENV_API_CORS_ORIGINS),
            host=host,
        )

    @classmethod
    def for_webui(
        cls,
        data_path: str | os.PathLike[str],
        models_path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        **explicit: str | os.PathLike[str] | None,
    ) -> Settings:
        """Inside a WebUI: home `<data>/sonic`, models `<models>/Sonic`, unless overridden."""
        return cls.from_environment(
            env,
            default_home=Path(data_path) / "sonic",
            default_models_dir=Path(models_path) / "Sonic",
            host="webui",
            **explicit,  # type: ignore[arg-type]
        )

    # -- derived locations --------------------------------------------------------------------

    @property
    def registry_path(self) -> Path:
        return self.home / "registry.db"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    @property
    def manifests_dir(self) -> Path:
        return self.home / "manifests"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def cache_dir(self) -> Path:
        """The UI's working copies (verify reports, the standalone gradio cache): private, and
        never under `outputs/`, which holds only published, recorded files."""
        return self.home / "cache"

    @property
    def database_url(self) -> str:
        """`SONIC_DB_URL` when set (e.g. PostgreSQL for teams), else SQLite under home."""
        return self.db_url or f"sqlite:///{self.registry_path}"

    def ensure_dirs(self) -> None:
        """Create the home layout; keys and evidence are private to the user (0700)."""
        for directory in (self.home, self.outputs_dir, self.manifests_dir, self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for private in (self.keys_dir, self.evidence_dir, self.cache_dir):
            private.mkdir(parents=True, exist_ok=True)
            private.chmod(0o700)

    def keep_gradio_files_private(self) -> None:
        """For `serve`: gradio's uploads (portraits: biometric data) and its copies of the
        videos it shows go to `cache/gradio` (0700), not the shared /tmp/gradio, unless
        $GRADIO_TEMP_DIR says otherwise. Call before the UI is built."""
        if not os.environ.get("GRADIO_TEMP_DIR"):
            folder = self.cache_dir / "gradio"
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
            os.environ["GRADIO_TEMP_DIR"] = str(folder)

    def describe(self) -> dict[str, str | None]:
        """What `health` and `--json` outputs show; never includes secrets."""
        return {
            "home": str(self.home),
            "models_dir": str(self.models_dir),
            "database": _without_secrets(self.db_url) if self.db_url else str(self.registry_path),
            "jobs": "queue (sonic-ext worker processes)" if self.queue_url else "in-process",
            "policy": str(self.policy_path) if self.policy_path else None,
            "signing": "production credentials" if self.signing_chain else
                       "development credentials",
            "host": self.host,
            "consent_admin": "enabled" if self.admin_token else "disabled (no admin token)",
        }


def use_only_gpu(index: int) -> None:
    """Make GPU `index` the only one this process sees (a queue worker per GPU); effective
    only before torch initialises CUDA."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(index)


def parse_origins(value: str | None, field_name: str) -> tuple[str, ...]:
    """Comma-separated web origins (`https://studio.example:8443`), each exactly as a browser
    sends it in `Origin`: a scheme, a host, an optional port, nothing else (no `*`)."""
    origins = tuple(part.strip().rstrip("/") for part in (value or "").split(",") if part.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
            raise InputError(field_name, f"{origin!r} is not a web origin; give scheme://host"
                                         "[:port], e.g. https://studio.example")
    return origins


def read_secret_file(path: str | os.PathLike[str] | None, field: str) -> str | None:
    """A secret kept in a file (its text, stripped); None when no file is named. Secrets on
    a command line are readable by every local user in /proc/PID/cmdline."""
    if path in (None, ""):
        return None
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(field, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                         ) from None
    if not secret:
        raise InputError(field, f"{path} is empty")
    return secret


def _path_or_none(value: str | os.PathLike[str] | None) -> Path | None:
    return Path(value) if value not in (None, "") else None


def _database_of(url: str) -> str:
    """The URL without its driver name: postgresql:// and postgresql+psycopg:// are one."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _without_secrets(url: str) -> str:
    """The database URL an operator can compare across machines, with its password masked and
    its query (where libpq URLs may carry one too) left out."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))
