"""A throwaway PostgreSQL cluster for tests: initdb into a temporary folder, served on 127.0.0.1, a free port.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user (Debian's
package creates it) in a folder that user owns. Tests skip, saying why, where the server binaries are absent.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SERVER_BINARIES = "/usr/lib/postgresql/*/bin"


def server_bin() -> Path | None:
    """The newest Debian server install (initdb and pg_ctl), else one on PATH."""
    found = sorted(glob.glob(f"{SERVER_BINARIES}/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb and (Path(initdb).parent / "pg_ctl").exists() else None


def missing_reason() -> str | None:
    """Why no cluster can be started here, or None."""
    if server_bin() is None:
        return f"PostgreSQL server binaries (initdb, pg_ctl) not found in {SERVER_BINARIES} or on PATH"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as an unprivileged user"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no `postgres` system user exists to run the server"
    return None


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    url: str  # superuser on the `postgres` database

    def schema_url(self) -> str:
        """A URL whose search_path is a new, empty schema: one isolated custody log per test."""
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        return f"{self.url}?options={quote(f'-csearch_path={schema}')}"


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a cluster; stop and delete it on exit, whatever happened."""
    binaries = server_bin()
    folder = Path(tempfile.mkdtemp(prefix="faceproof-pg-"))
    as_server: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_hex(16)
    (folder / "pw").write_text(password)
    if as_server:
        shutil.chown(folder / "pw", "postgres", "postgres")
    data, port = folder / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_server, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stderr.strip()}\n{tail}")

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(folder / "pw"),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=40"
        run(str(binaries / "pg_ctl"), "start", "-D", str(data), "-w", "-t", "60", "-l", str(folder / "server.log"),
            "-o", options)
        try:
            yield Cluster(f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres")
        finally:
            run(str(binaries / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
