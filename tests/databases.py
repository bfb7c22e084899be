"""Throwaway PostgreSQL and MariaDB servers, so that the store is tested on the databases
larger installs use, not only on SQLite.

`BRIEFING_TEST_POSTGRES_URL` and `BRIEFING_TEST_MYSQL_URL` (SQLAlchemy URLs of servers where
the user may create databases) are used when set. Otherwise the servers' own programs
(Debian's `postgresql` and `mariadb-server` packages, which `.ci/run` installs) start a
private server in a temporary folder, on a free port, stopped at the end of the session.
Tests that need one skip, saying why, where neither is available.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.servers import free_port


def _programs() -> str | None:
    """The folder of initdb and pg_ctl, if PostgreSQL is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _as_server_user(command: list[str]) -> list[str]:
    # initdb refuses to run as root: as root, run the server as Debian's `postgres` user.
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass(frozen=True)
class Server:
    """A database server for the session: its URL, or why there is none (the skip's reason)."""

    url: str | None
    why_not: str = ""


@contextmanager
def postgres_server() -> Iterator[Server]:
    """A throwaway PostgreSQL server for the session (or the one the environment names)."""
    given = os.environ.get("BRIEFING_TEST_POSTGRES_URL")
    if given:
        yield Server(given)
        return
    programs = _programs()
    if programs is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        yield Server(None, "PostgreSQL is not installed (Debian: apt-get install postgresql)")
        return
    folder = tempfile.mkdtemp(prefix="briefing-pg-")  # under /tmp: the server user can reach it
    data, port = os.path.join(folder, "data"), free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    start = [
        os.path.join(programs, "pg_ctl"),
        *("-D", data, "-w", "-l", os.path.join(folder, "log")),
        *("-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"),
    ]

    def stop() -> None:
        if os.path.exists(data):
            subprocess.run(
                _as_server_user([*start[:3], "-m", "immediate", "stop"]), capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)

    try:
        subprocess.run(
            _as_server_user(
                [os.path.join(programs, "initdb"), "-D", data, "-A", "trust", "-U", "briefing"]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(_as_server_user([*start, "start"]), check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        stop()
        yield Server(None, f"PostgreSQL is installed but would not start here: {_why(exc)}")
        return
    try:
        yield Server(f"postgresql+psycopg://briefing@127.0.0.1:{port}/postgres")
    finally:
        stop()


def _mariadb_programs() -> tuple[str, str] | None:
    """mariadb-install-db and the server, if MariaDB is installed."""
    install = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None
    )
    return (install, server) if install and server else None


@contextmanager
def mariadb_server() -> Iterator[Server]:
    """A throwaway MariaDB server for the session (or the MariaDB or MySQL server the
    environment names)."""
    given = os.environ.get("BRIEFING_TEST_MYSQL_URL")
    if given:
        yield Server(given)
        return
    programs = _mariadb_programs()
    if programs is None:
        yield Server(None, "MariaDB is not installed (Debian: apt-get install mariadb-server)")
        return
    install, server = programs
    folder = tempfile.mkdtemp(prefix="briefing-mariadb-")
    data, port = os.path.join(folder, "data"), free_port()
    # As root the server runs as Debian's `mysql` user; otherwise as whoever runs the tests.
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(folder, "mysql")
    url = f"mysql+pymysql://root@127.0.0.1:{port}/mysql?charset=utf8mb4"
    process: subprocess.Popen[bytes] | None = None

    def stop() -> None:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)

    # --no-defaults: none of this machine's settings (its character set among them: the
    # store must declare its own).
    try:
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                *user,
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ],
            check=True,
            capture_output=True,
        )
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={data}",
                *user,
                f"--socket={folder}/socket",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                f"--log-error={folder}/log",
            ],
        )
        _wait_until_up(url, process)
    except (OSError, subprocess.CalledProcessError, OperationalError) as exc:
        # e.g. an AppArmor profile that keeps mariadbd to /var/lib/mysql (Ubuntu)
        why = _last_error_line(os.path.join(folder, "log")) or _why(exc)
        stop()
        yield Server(None, f"MariaDB is installed but would not start here: {why}")
        return
    try:
        yield Server(url)
    finally:
        stop()


def _last_error_line(log: str) -> str:
    try:
        with open(log, encoding="utf-8", errors="replace") as lines:
            errors = [line.strip() for line in lines if "[ERROR]" in line]
    except OSError:
        return ""
    return errors[-1] if errors else ""


def _why(exc: Exception) -> str:
    """The last line a failed start printed, or the error itself."""
    output = getattr(exc, "stderr", None) or b""
    lines = output.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else str(exc).splitlines()[0]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    engine = create_engine(url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                with engine.connect():
                    return
            except OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


def fresh_database(server: Server) -> str:
    """A new, empty database on the server; its URL. Skips, saying why, without a server."""
    if server.url is None:
        pytest.skip(server.why_not)
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return make_url(server.url).set(database=name).render_as_string(hide_password=False)
