"""A real PostgreSQL server for the history tests: its own cluster in a temp directory.

:class:`PgCluster` runs Debian's ``initdb`` and ``pg_ctl`` (from PATH, else the newest
``/usr/lib/postgresql/<version>/bin``). Both refuse to run as root, so as root they run as the
``postgres`` user (``nobody`` without one) through ``setpriv``, on a directory owned by it. The
server listens on 127.0.0.1 and a free port (its Unix socket in the same directory), with a
password (scram-sha-256) so the tests can check it never shows. No fsync: test data only.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from sessionbeat.broker.embedded import free_port
from tests.tools import missing

USER = "sessionbeat"
"""The cluster's superuser (the history connects as it)."""


def pg_bin() -> Path:
    """Return the directory of ``initdb``/``pg_ctl``; skip or fail the test without them."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not versions:
        missing("postgresql")
    return Path(versions[-1]).parent


def _as_user() -> tuple[list[str], int, int]:
    """Return the command prefix that drops root, and the uid/gid it runs as (none if not root)."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        entry = pwd.getpwnam("nobody")
    prefix = [
        "setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
        "--",
    ]
    return prefix, entry.pw_uid, entry.pw_gid


class PgCluster:
    """A PostgreSQL cluster of its own in a new temp directory; :meth:`start` runs it."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        self.prefix, uid, gid = _as_user()
        self.root = Path(tempfile.mkdtemp(prefix="sb-pg-", dir="/tmp"))
        os.chown(self.root, uid, gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.password = "pw-" + secrets.token_hex(8)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, uid, gid)
        self._run(
            "initdb",
            "-D", str(self.data),
            "-U", USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        self._n = 0

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            cwd=self.root,
            timeout=60,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of ``database`` on this server (password included)."""
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create a fresh database and return its SQLAlchemy URL."""
        import psycopg

        self._n += 1
        name = f"history_{self._n}"
        dsn = (
            f"host=127.0.0.1 port={self.port} user={USER} password={self.password} dbname=postgres"
        )
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
             "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
