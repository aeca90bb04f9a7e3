"""A throwaway PostgreSQL server for the tests (and bench/bench_postgres.py).

:class:`PostgresServer` runs Debian's binaries (``/usr/lib/postgresql/<version>/bin``:
``initdb``, ``pg_ctl``) on a data directory in a new temporary directory, listening on a
unix socket in that directory and on 127.0.0.1 at an ephemeral port. initdb refuses to run
as root, so as root the server runs as the ``postgres`` system user that Debian's package
creates (``runuser -u postgres --``), and the temporary directory is handed to it.
Authentication is ``trust`` for that one local user; nothing listens beyond loopback.

Pytest fixtures (registered in tests/conftest.py):

* ``postgres_server`` (session): the running server, stopped (``pg_ctl stop -m immediate``)
  and deleted at the end of the session. Skips the test when the binaries, the ``postgres``
  user or psycopg are missing — unless ``NOC_LEDGER_REQUIRE_POSTGRES=1`` (CI), then fails.
* ``postgres_dsn`` (function): a DSN of a database created for that test alone and dropped
  after it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE = "NOC_LEDGER_REQUIRE_POSTGRES"
#: The system user the server runs as when we are root.
SERVER_USER = "postgres"


class PostgresUnavailableError(Exception):
    """The machine cannot run a throwaway server (binaries, user or driver missing)."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl.

    Raises:
        PostgresUnavailableError: there is none.
    """
    found = []
    for candidate in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(candidate)
        version = path.parent.name
        if version.isdigit() and (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            found.append((int(version), path))
    if not found:
        raise PostgresUnavailableError(
            "no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)"
        )
    return max(found)[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server on a fresh data directory. Use :meth:`start` and :meth:`stop` (or the
    object as a context manager)."""

    def __init__(self, *, fsync: bool = True) -> None:
        self.bindir = find_bindir()
        self.fsync = fsync
        # As root the server runs as another user, who must be able to reach the directory:
        # /tmp, not a $TMPDIR that may sit under root's home.
        parent = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.root = Path(tempfile.mkdtemp(prefix="noc-ledger-pg-", dir=parent))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.port = _free_port()
        self.user = SERVER_USER
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SERVER_USER)
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise PostgresUnavailableError(
                    f"running as root and there is no {SERVER_USER!r} user"
                ) from None
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self._counter = itertools.count(1)
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*self._as_user, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail}"
            )

    def start(self) -> PostgresServer:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway cluster; the server's own fsync setting is below
        )
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.socket_dir}",
                f"-c fsync={'on' if self.fsync else 'off'}",
                "-c max_connections=100",
                "-c shared_buffers=64MB",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True
        return self

    def stop(self) -> None:
        try:
            if self.started:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                )
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Restart the server on the same data (every client connection is cut)."""
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dsn(self, dbname: str = "postgres", *, tcp: bool = False) -> str:
        host = "127.0.0.1" if tcp else str(self.socket_dir)
        return f"host={host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE}=1) but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install '.[postgres]')")
    try:
        server = PostgresServer()
    except PostgresUnavailableError as exc:
        _unavailable(str(exc))
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.dsn(name)
    finally:
        with contextlib.suppress(Exception):
            postgres_server.drop_database(name)
