from __future__ import annotations

import gc
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from briefing.logs import JsonFormatter, TextFormatter
from tests.databases import Server, fresh_database, mariadb_server, postgres_server
from tests.servers import Mailbox, free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "demo"


@pytest.fixture(autouse=True)
def _no_stale_log_handler() -> Iterator[None]:
    """`main()` points the root logger at the stderr of its moment, a test's captured one:
    after the test that stream is closed, and a later log line (a server thread still
    finishing a request) would hit it. The handlers `main()` installed go with their test."""
    yield
    root = logging.getLogger()
    root.handlers[:] = [
        h for h in root.handlers if not isinstance(h.formatter, TextFormatter | JsonFormatter)
    ]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches a model hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo configuration; the working directory is tmp_path."""
    target = tmp_path / "config"
    shutil.copytree(DEMO, target)
    monkeypatch.chdir(tmp_path)
    return target


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """A PostgreSQL server for the session (or why there is none)."""
    with postgres_server() as server:
        yield server
        gc.collect()  # close the pools of stores no test closed, while the server is up


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Server]:
    """A MariaDB server for the session (or why there is none)."""
    with mariadb_server() as server:
        yield server
        gc.collect()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, a PostgreSQL and a MariaDB database (each
    skipped, saying why, where that server is not installed)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'b.db'}"
    server = request.getfixturevalue("postgres" if request.param == "postgresql" else "mariadb")
    return fresh_database(server)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (TLS servers)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate; absent here")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    """A real aiosmtpd server on a free port, and the handler that records (and can refuse)
    what it is sent."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()
