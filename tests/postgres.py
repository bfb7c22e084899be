"""A throwaway PostgreSQL server, so that the store is tested on the database larger installs
use, not only on SQLite.

`BRIEFING_TEST_POSTGRES_URL` (an SQLAlchemy URL of a server where the user may create
databases) is used when set. Otherwise the server's own programs (Debian's `postgresql`
package, which `.ci/run` installs) start a private cluster in a temporary folder, on a free
port, stopped at the end of the session. Tests that need it skip, saying why, where neither
is available.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """The URL of a PostgreSQL server for the session, or None (then the reason is logged
    by the skip in `database_url`)."""
    given = os.environ.get("BRIEFING_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    programs = _programs()
    if programs is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        yield None
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
    try:
        subprocess.run(
            _as_server_user(
                [os.path.join(programs, "initdb"), "-D", data, "-A", "trust", "-U", "briefing"]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(_as_server_user([*start, "start"]), check=True, capture_output=True)
        yield f"postgresql+psycopg://briefing@127.0.0.1:{port}/postgres"
    finally:
        if os.path.exists(data):
            subprocess.run(
                _as_server_user([*start[:3], "-m", "immediate", "stop"]), capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str | None) -> str:
    """A new, empty database on the server; its URL."""
    if server is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)
