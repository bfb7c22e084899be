"""A real IMAP server for tests: pymap's in-memory backend in a process of its own, on a
free localhost port, with one user. Mail is put in with IMAP APPEND, as a relay would
deliver it."""

from __future__ import annotations

import imaplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port

USER = "bounces@example.org"
PASSWORD = "imap-s3cret"


@dataclass
class ImapServer:
    port: int

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        if "STARTTLS" in client.capabilities:
            import ssl

            client.starttls(ssl_context=ssl._create_unverified_context())
        client.login(USER, PASSWORD)
        return client

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            for message in messages:
                status, detail = client.append(folder, None, None, message)
                assert status == "OK", detail
        finally:
            client.logout()

    def subjects(self, folder: str) -> list[str]:
        """The Subject of every mail in `folder`, in order ([] when it does not exist)."""
        client = self.client()
        try:
            status, _ = client.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return []
            _, found = client.uid("SEARCH", "ALL")
            subjects = []
            for uid in found[0].split():
                _, data = client.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                header = next(item[1] for item in data if isinstance(item, tuple))
                subjects.append(header.decode().partition(":")[2].strip())
            return subjects
        finally:
            client.logout()


@contextmanager
def imap_server(cert: Path | None = None, key: Path | None = None) -> Iterator[ImapServer]:
    """pymap on a free port: plain IMAP, or STARTTLS with the certificate given."""
    try:
        import pymap  # noqa: F401
    except ImportError:
        pytest.skip("needs pymap (an IMAP server; pip install -e '.[dev]'); absent here")
    port = free_port()
    tls = ["--cert", str(cert), "--key", str(key)] if cert and key else ["--no-tls"]
    command = [
        *(sys.executable, "-c", "import sys; from pymap.main import main; sys.exit(main())"),
        *("--host", "127.0.0.1", "--port", str(port), *tls),
        *("dict", "--demo-user", USER, "--demo-password", PASSWORD),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(port, process)
        yield ImapServer(port)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"pymap exited with {process.returncode}: {error[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("pymap did not start listening")
