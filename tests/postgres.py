"""A real PostgreSQL server for the tests, started by the tests themselves (Debian's package).

The server runs from a throwaway data folder on a free port of 127.0.0.1, with trust
authentication (nothing but this machine can reach it) and without fsync (nothing here outlives
the test run). Each test gets its own database. As root, a missing server is installed with
apt-get and run as the `postgres` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.servers import free_port

_SERVICE_USER = "postgres"


class PostgresServer:
    """One running PostgreSQL cluster; `stop` removes it and its files."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, port

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = _postgres_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="sonic-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(root, _SERVICE_USER)
        server = cls(bin_dir, root, free_port())
        server._run("initdb", "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync", "--no-instructions")
        server.pg_ctl("start")
        return server

    def pg_ctl(self, action: str) -> None:
        """start, stop or restart the server (stop and restart are 'fast': sessions end)."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "server.log"),
                  "-o", options, "-m", "fast", "-w", "-t", "60", action)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL as a user would write SONIC_DB_URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self.pg_ctl("stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _SERVICE_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root,
                              timeout=120, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip()}\n"
                               f"{log.read_text() if log.exists() else ''}")


def _postgres_bin_dir() -> Path:
    found = _installed_bin_dir()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                         "postgresql"]):
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        found = _installed_bin_dir()
    if found is None:
        pytest.skip("PostgreSQL is not installed and cannot be installed here (needs root and "
                    "apt-get): install Debian's postgresql package to run these tests")
    return found


def _installed_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL (/usr/lib/postgresql/N/bin), else initdb on PATH."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name))
    if versions:
        return Path(versions[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None

