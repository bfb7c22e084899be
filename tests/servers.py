"""A real local SMTP server for tests (aiosmtpd) that keeps what it receives.

Feeds and pages are served by tests/feed_server.py."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


class _Sink:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)
                )
            )
        return "250 OK"


class Mailbox:
    """An aiosmtpd handler that records what it accepts and can misbehave on purpose."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.mail_options: list[list[str]] = []  # the MAIL FROM parameters of each message
        self.sessions: set[int] = set()
        self.attempts: Counter[str] = Counter()
        self.refuse: set[str] = set()  # 550 at RCPT
        self.rcpt: Counter[str] = Counter()  # RCPT commands per address, refused or not
        self.busy_replies = 0  # answer 451 to the first N DATA of each recipient
        self.on_data: Callable[[Any, str], str | None] | None = None  # a fault hook
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.rcpt[address] += 1
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipient = envelope.rcpt_tos[0]
        with self.lock:
            self.attempts[recipient] += 1
            attempt = self.attempts[recipient]
            self.sessions.add(id(session))
        if self.on_data is not None:
            reply = self.on_data(server, recipient)
            if reply is not None:
                return reply
        if attempt <= self.busy_replies:
            return "451 4.3.0 busy, try again later"
        with self.lock:
            self.received.append((recipient, envelope.original_content or envelope.content))
            self.mail_options.append(envelope.mail_options)
        return "250 2.0.0 queued"

    def counts(self) -> Counter[str]:
        return Counter(rcpt for rcpt, _ in self.received)


def free_port() -> int:
    """A port nobody listens on (aiosmtpd's Controller cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[tuple[_Sink, int]]:
    """An aiosmtpd server on a free localhost port; yields (sink, port)."""
    sink = _Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
