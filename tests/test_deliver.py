"""Delivery against a real aiosmtpd server on localhost, with a real SQLite store.

Faults a real server cannot produce on demand (451 replies, a dropped connection, a crash of
the sending process) are injected by the server's handler, never by mocking the client. One
test records the waits between retries instead of sleeping through them.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import html as htmllib
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from pydantic import ValidationError
from sqlalchemy import update

from briefing.config import Config, EmailSettings, Smtp, Subscriber, load_config
from briefing.digest.deliver import (
    DeliveryReport,
    build_message,
    deliver,
    message_bytes,
    message_id,
    mime_boundary,
    outbox_name,
)
from briefing.digest.render import render_digest, unsubscribe_token
from briefing.errors import EXIT_PARTIAL, ConfigError, DeliveryError
from briefing.models import Digest
from briefing.store import Store, deliveries
from tests.digest_fixtures import fixed_config, fixed_edition
from tests.servers import Mailbox
from tests.servers import free_port as _free_port
from tests.test_render import _hostile_edition

ROOT = Path(__file__).resolve().parents[1]
# aiosmtpd logs every connection at INFO from its own thread; after a CLI test has pointed
# the root logger at that test's (closed) captured stderr, those lines would fail to print.
logging.getLogger("mail.log").setLevel(logging.WARNING)
FAST = {"backoff_seconds": 0.01, "timeout_seconds": 5}


@contextmanager
def _relay(handler: Any, **options: Any) -> Iterator[Controller]:
    """A real aiosmtpd relay on a free localhost port, stopped on the way out."""
    relay = Controller(handler, hostname="127.0.0.1", port=_free_port(), **options)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def server(mailbox: Mailbox) -> Iterator[Controller]:
    with _relay(mailbox) as controller:
        yield controller


def _config(tmp: Path, port: int, database: str | None = None, **smtp: Any) -> Config:
    values = {"host": "127.0.0.1", "port": port, "security": "none", **FAST, **smtp}
    return fixed_config(tmp, smtp=Smtp(**values), database=database)


def _digests(config: Config, n: int = 0) -> list[Digest]:
    """The fixed subscribers' digests, plus n more readers (copies of the first) for a batch."""
    edition = fixed_edition()
    digests = [render_digest(edition, s, config) for s in config.subscribers]
    extra = [replace(digests[0], subscriber=f"reader{i:03d}@example.org") for i in range(n)]
    return digests + extra


def _deliver(digests: list[Digest], config: Config) -> DeliveryReport:
    store = Store(config.database_url)
    try:
        return deliver(digests, config, store)
    finally:
        store.close()


def _statuses(config: Config) -> dict[str, str]:
    store = Store(config.database_url)
    try:
        return store.delivery_status("2026-11-29")
    finally:
        store.close()


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _content(part: Message) -> bytes:
    """A part's content as a mail client reads it. Base64 gives back the very bytes that were
    rendered; 8bit text travels in MIME's canonical form, every line end a CRLF."""
    raw = part.get_payload(decode=True)
    assert isinstance(raw, bytes)
    if part["Content-Transfer-Encoding"] == "8bit":
        assert b"\n" not in raw.replace(b"\r\n", b""), "only CRLF line ends on the wire"
        return raw.replace(b"\r\n", b"\n")
    return raw


def _longest_line(raw: bytes) -> int:
    return max(len(line) for line in raw.split(b"\r\n"))


def test_messages_arrive_intact(tmp_path: Path, server: Controller, mailbox: Mailbox) -> None:
    config = _config(tmp_path, server.port)
    digests = _digests(config)
    report = _deliver(digests, config)
    assert sorted(report.sent) == sorted(d.subscriber for d in digests)
    assert not report.failed and not report.skipped
    received = dict(mailbox.received)
    for digest in digests:
        msg = _parse(received[digest.subscriber])
        assert all(not part.defects for part in msg.walk()), "well-formed MIME"
        assert msg["Subject"] == digest.subject  # Arabic, encoded and decoded back
        assert msg["From"] == "موجز الصباح <briefing@example.org>"  # the name, decoded back
        [sender] = msg["From"].addresses
        assert (sender.display_name, sender.addr_spec) == ("موجز الصباح", "briefing@example.org")
        assert msg["To"] == digest.subscriber
        assert msg["Message-ID"] == message_id(digest, "example.org")
        assert msg["Date"]
        assert msg["List-Unsubscribe"].strip() == (  # folded after the colon: unfold
            "<mailto:unsubscribe@example.org>, <https://example.org/unsubscribe>"
        )
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text_part = msg.get_body(("plain",))
        assert text_part is not None
        assert _content(text_part) == digest.text.encode("utf-8")
        html_part = msg.get_body(("html",))
        if digest.html is None:
            assert msg.get_content_type() == "text/plain"
        else:
            assert html_part is not None
            assert _content(html_part) == digest.html.encode("utf-8")
        assert _longest_line(received[digest.subscriber]) <= 998
    assert set(_statuses(config).values()) == {"sent"}
    # aiosmtpd announces 8BITMIME: text goes as 8bit, and the envelope says so (RFC 6152)
    assert all("BODY=8BITMIME" in options for options in mailbox.mail_options)
    for (_, raw), options in zip(mailbox.received, mailbox.mail_options, strict=True):
        assert f"SIZE={len(raw)}" in options  # RFC 1870: the octets sent, CRLFs included
    encodings = {
        part["Content-Transfer-Encoding"]
        for raw in received.values()
        for part in _parse(raw).walk()
        if not part.is_multipart()
    }
    assert encodings == {"8bit"}  # every line fits, even that of a story with 11 sources


def test_a_relay_without_8bitmime_gets_base64(tmp_path: Path, mailbox: Mailbox) -> None:
    # decode_data=True: aiosmtpd then decodes the data as ASCII text and announces no 8BITMIME
    with _relay(mailbox, decode_data=True) as relay:
        config = _config(tmp_path, relay.port)
        digests = _digests(config)
        report = _deliver(digests, config)
    assert len(report.sent) == len(digests) and not report.failed
    assert not any("BODY=8BITMIME" in options for options in mailbox.mail_options)
    for digest in digests:
        raw = dict(mailbox.received)[digest.subscriber]
        assert raw.isascii()
        msg = _parse(raw)
        for part in msg.walk():
            if not part.is_multipart():
                assert part["Content-Transfer-Encoding"] == "base64"
        assert _content(msg.get_body(("plain",))) == digest.text.encode("utf-8")  # type: ignore[arg-type]
        if digest.html is None:
            assert msg.get_content_type() == "text/plain"
        else:
            html_part = msg.get_body(("html",))
            assert html_part is not None
            assert _content(html_part) == digest.html.encode("utf-8")  # byte for byte


class _NoEhlo(Mailbox):
    """A relay from before ESMTP: EHLO is an unknown command, HELO works."""

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        return ["500 Error: command EHLO not recognized"]


def test_a_relay_without_ehlo_is_greeted_with_helo_and_gets_base64(tmp_path: Path) -> None:
    mailbox = _NoEhlo()
    with _relay(mailbox) as relay:
        config = _config(tmp_path, relay.port)
        digests = _digests(config)
        report = _deliver(digests, config)
    assert len(report.sent) == len(digests) and not report.failed
    assert all(raw.isascii() for _, raw in mailbox.received)  # no 8BITMIME without EHLO


def test_8bit_only_for_parts_that_can_travel_as_they_are(tmp_path: Path) -> None:
    config = fixed_config(tmp_path)
    digest = _digests(config)[0]
    html = "<p>سطر قصير</p>\n"
    boundary_line = "--" + mime_boundary(digest)
    cases = {
        "نص عربي قصير\nوسطر ثان\n": "8bit",
        "ب" * 499 + "\n": "8bit",  # 998 octets: the longest line SMTP allows
        "ب" * 500 + "\n": "base64",  # 1,000 octets
        "سطر\rمع CR وحده\n": "base64",  # a bare CR would become a line end on the way
        "صفر \0 هنا\n": "base64",
        f"{boundary_line}\n": "base64",  # would end the part early
    }
    for text, expected in cases.items():
        raw = message_bytes(replace(digest, text=text, html=html), config, eight_bit=True)
        msg = _parse(raw)
        plain = msg.get_body(("plain",))
        assert plain is not None and plain["Content-Transfer-Encoding"] == expected, text[:20]
        assert _content(plain) == text.encode("utf-8")
        assert _longest_line(raw) <= 998
        assert len(list(msg.iter_parts())) == 2
    text_only = message_bytes(replace(digest, html=None), config, eight_bit=True)
    assert _parse(text_only)["Content-Transfer-Encoding"] == "8bit"
    assert text_only.endswith(b"\r\n")
    assert message_bytes(digest, config).isascii()  # base64 unless asked: .eml files, old relays


def test_message_id_is_stable_per_subscriber_and_edition(tmp_path: Path) -> None:
    config = fixed_config(tmp_path)
    first, second = _digests(config)[:2]
    again = render_digest(fixed_edition(), config.subscribers[0], config)
    assert message_id(first, "example.org") == message_id(again, "example.org")
    assert message_id(first, "example.org") != message_id(second, "example.org")
    other_day = replace(first, edition_id="2026-11-30")
    assert message_id(first, "example.org") != message_id(other_day, "example.org")


def test_451_twice_then_accepted_arrives_once(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    mailbox.busy_replies = 2
    config = _config(tmp_path, server.port, retries=3)
    digests = _digests(config)
    report = _deliver(digests, config)
    assert len(report.sent) == len(digests) and not report.failed
    assert mailbox.counts() == Counter(d.subscriber for d in digests)  # once each
    assert set(mailbox.attempts.values()) == {3}  # two refusals, then accepted


def test_retry_delays_double_at_each_attempt_within_the_jitter(
    tmp_path: Path, server: Controller, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import types

    import briefing.digest.deliver as delivery

    # Fault injection only: the relay is real; the waits between attempts are recorded and
    # skipped, so a backoff of seconds costs the test nothing. Only deliver.py's view of
    # asyncio changes: aiosmtplib and the relay's own loop keep the real sleep.
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    fake = types.SimpleNamespace(**vars(asyncio))
    fake.sleep = recorded_sleep
    monkeypatch.setattr(delivery, "asyncio", fake)
    mailbox.busy_replies = 3
    base = 2.0
    config = _config(tmp_path, server.port, retries=3, backoff_seconds=base, concurrency=1)
    digest = _digests(config)[0]
    report = _deliver([digest], config)
    assert report.sent == (digest.subscriber,) and mailbox.attempts[digest.subscriber] == 4
    assert mailbox.counts() == Counter([digest.subscriber])
    assert len(mailbox.sessions) == 1  # 4xx: retried on the same session, after RSET
    # attempt k waits backoff * 2**k, times a jitter in [0.5, 1]: 1-2 s, 2-4 s, 4-8 s
    assert len(delays) == 3
    for attempt, delay in enumerate(delays):
        assert base * 2**attempt * 0.5 <= delay <= base * 2**attempt, (attempt, delays)


def test_4xx_that_outlasts_the_retries_is_retried_by_the_next_run(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    mailbox.busy_replies = 2
    config = _config(tmp_path, server.port, retries=1)
    digests = _digests(config)[:2]
    first = _deliver(digests, config)
    assert not first.sent and {who for who, _ in first.failed} == {d.subscriber for d in digests}
    assert all("451" in why and "permanent" not in why for _, why in first.failed)
    second = _deliver(digests, config)
    assert sorted(second.sent) == sorted(d.subscriber for d in digests)
    assert mailbox.counts() == Counter(d.subscriber for d in digests)


def test_a_dropped_connection_is_retried_on_a_new_one(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    dropped: list[str] = []

    def drop_once(smtp: Any, recipient: str) -> str | None:
        if len(mailbox.received) == 3 and not dropped:
            dropped.append(recipient)
            smtp.transport.abort()  # no reply at all: the client sees the connection vanish
            return "250 never seen"
        return None

    mailbox.on_data = drop_once
    config = _config(tmp_path, server.port, concurrency=1)
    digests = _digests(config, n=6)
    report = _deliver(digests, config)
    assert dropped and len(report.sent) == len(digests) and not report.failed
    assert mailbox.counts() == Counter(d.subscriber for d in digests)
    assert len(mailbox.sessions) == 2  # the first connection, and the one that replaced it


def test_a_lost_250_is_sent_again_by_the_same_run_with_the_same_message_id(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    # The window docs/email.md admits: the relay took the message, but its 250 never came
    # back. The sender cannot tell this from a message that never arrived.
    lost: list[str] = []

    def accept_then_vanish(smtp: Any, recipient: str) -> str | None:
        if not lost:
            lost.append(recipient)
            with mailbox.lock:
                mailbox.received.append((recipient, smtp.envelope.original_content))
            smtp.transport.abort()
            return "250 never seen"
        return None

    mailbox.on_data = accept_then_vanish
    config = _config(tmp_path, server.port, concurrency=1)
    digests = _digests(config)
    report = _deliver(digests, config)
    assert sorted(report.sent) == sorted(d.subscriber for d in digests) and not report.failed
    [twice] = lost
    assert mailbox.counts() == Counter([*(d.subscriber for d in digests), twice])
    copies = [_parse(raw)["Message-ID"] for who, raw in mailbox.received if who == twice]
    assert len(copies) == 2 and copies[0] == copies[1]  # a client can tell it is the same


def test_server_gone_mid_batch_rerun_delivers_the_rest_and_duplicates_nothing(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    port = _free_port()
    first_server = Controller(mailbox, hostname="127.0.0.1", port=port)
    first_server.start()

    def crash_after_four(smtp: Any, recipient: str) -> str | None:
        if len(mailbox.received) >= 4:
            smtp.transport.abort()
            threading.Thread(target=first_server.stop).start()  # and it does not come back
            return "250 never seen"
        return None

    mailbox.on_data = crash_after_four
    config = _config(tmp_path, port, concurrency=2, retries=1)
    digests = _digests(config, n=10)
    first = _deliver(digests, config)
    assert len(first.sent) == 4 and len(first.failed) == len(digests) - 4
    time.sleep(0.2)
    mailbox.on_data = None
    second_server = Controller(mailbox, hostname="127.0.0.1", port=port)
    second_server.start()
    try:
        second = _deliver(digests, config)
    finally:
        second_server.stop()
    assert sorted(second.skipped) == sorted(first.sent)
    assert sorted(second.sent) == sorted(who for who, _ in first.failed)
    assert mailbox.counts() == Counter(d.subscriber for d in digests)  # each exactly once
    assert set(_statuses(config).values()) == {"sent"}


def test_550_recipient_is_reported_and_the_others_delivered(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    mailbox.refuse = {"economy@example.org"}
    config = _config(tmp_path, server.port)
    digests = _digests(config)
    report = _deliver(digests, config)
    [(who, why)] = report.failed
    assert who == "economy@example.org" and "550" in why and "permanent" in why
    assert sorted(report.sent) == sorted(d.subscriber for d in digests if d.subscriber != who)
    assert who not in mailbox.counts()
    assert _statuses(config)[who] == "failed_permanent"
    again = _deliver(digests, config)  # a permanent failure is not retried every run
    assert who in again.skipped and not again.sent and mailbox.attempts[who] == 0


def test_a_mailbox_refused_for_good_three_editions_running_is_held_back_then_tried_again(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    # Writing every morning to an address that does not exist costs the sender its standing
    # with the relays: after three refusals in a row it is held back for two weeks.
    dead = "economy@example.org"
    mailbox.refuse = {dead}
    config = _config(tmp_path, server.port)
    digests = _digests(config)

    def edition(day: int) -> DeliveryReport:
        return _deliver([replace(d, edition_id=f"2026-12-{day:02d}") for d in digests], config)

    for day in (1, 2, 3):
        report = edition(day)
        [(who, why)] = report.failed
        assert who == dead and why.startswith("550 5.1.1 no such mailbox")
    assert mailbox.rcpt[dead] == 3  # tried each morning while under three refusals
    held = edition(4)
    [(who, why)] = held.failed
    retry = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    assert who == dead and why == (
        "held back: its last 3 editions were refused for good (550 5.1.1 no such mailbox); "
        f"tried again from {retry}, or at once under a corrected address in subscribers.yaml"
    )
    assert mailbox.rcpt[dead] == 3  # not asked again
    assert sorted(held.sent) == sorted(d.subscriber for d in digests if d.subscriber != dead)
    assert held.exit_code(len(digests)) == EXIT_PARTIAL  # an editor has something to fix
    store = Store(config.database_url)
    try:
        assert dead not in store.delivery_status("2026-12-04")  # no row: nothing was tried
        # Two weeks on (the refusals' times moved back): the address is tried once more.
        two_weeks_ago = (datetime.now(UTC) - timedelta(days=15)).replace(tzinfo=None)
        with store.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.subscriber == dead)
                .values(updated_at=two_weeks_ago)
            )
    finally:
        store.close()
    again = edition(5)
    assert mailbox.rcpt[dead] == 4 and [who for who, _ in again.failed] == [dead]
    assert edition(6).failed[0][1].startswith("held back")  # refused again: held again


class _RefusingSMTP(SMTP):
    """aiosmtpd answering every connection with a 554 greeting, as a relay that will not
    take mail from us today does (RFC 5321 3.1), then hanging up."""

    async def _handle_client(self) -> None:
        await self.push("554 5.7.1 no service for you today")
        assert self.transport is not None
        self.transport.close()


class _RefusingRelay(Controller):
    def factory(self) -> SMTP:
        return _RefusingSMTP(self.handler, **self.SMTP_kwargs)


def test_a_relay_refusing_the_session_stops_the_run_and_fails_no_one_for_good(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    relay = _RefusingRelay(mailbox, hostname="127.0.0.1", port=_free_port())
    relay.start()
    try:
        config = _config(tmp_path, relay.port)
        digests = _digests(config)
        refused = _deliver(digests, config)
    finally:
        relay.stop()
    assert not refused.sent and len(refused.failed) == len(digests)
    assert all("554" in why and "permanent" not in why for _, why in refused.failed)
    assert set(_statuses(config).values()) <= {"failed"}  # left for the next run
    with _relay(mailbox) as willing:  # the relay takes mail again: everyone gets it
        again = _deliver(digests, _config(tmp_path, willing.port))
    assert sorted(again.sent) == sorted(d.subscriber for d in digests)
    assert mailbox.counts() == Counter(d.subscriber for d in digests)


def test_an_unsendable_address_fails_alone_and_the_session_goes_on(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    config = _config(tmp_path, server.port, concurrency=1)  # one session for all of them
    digests = _digests(config)
    bad = replace(digests[0], subscriber="two words@example.org")  # a space ends an address
    report = _deliver([digests[0], bad, *digests[1:]], config)
    [(who, why)] = report.failed
    assert who == bad.subscriber and "permanent" in why
    assert sorted(report.sent) == sorted(d.subscriber for d in digests)
    assert len(mailbox.sessions) == 1  # the envelope was reset, not the connection dropped


def test_one_connection_reused_per_worker_within_the_concurrency_limit(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    config = _config(tmp_path, server.port, concurrency=3, messages_per_connection=1000)
    digests = _digests(config, n=26)
    report = _deliver(digests, config)
    assert len(report.sent) == 30
    assert 1 <= len(mailbox.sessions) <= 3
    capped = _config(tmp_path / "capped", server.port, concurrency=1, messages_per_connection=4)
    mailbox.sessions.clear()
    _deliver(digests[:10], capped)
    assert len(mailbox.sessions) == 3  # 4 + 4 + 2: relays limit messages per connection


def test_two_concurrent_runs_never_both_send(
    tmp_path: Path, server: Controller, mailbox: Mailbox, database_url: str
) -> None:
    # On each database (SQLite, PostgreSQL, MariaDB): the reservation decides who sends.
    mailbox.on_data = lambda smtp, recipient: time.sleep(0.002)  # type: ignore[func-returns-value]
    config = _config(tmp_path, server.port, database_url, concurrency=2)
    digests = _digests(config, n=36)
    Store(config.database_url).close()  # create the tables before the race
    start = threading.Barrier(2)
    reports: list[DeliveryReport] = []

    def run() -> None:
        start.wait()
        reports.append(_deliver(digests, config))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one, two = reports
    assert not set(one.sent) & set(two.sent)
    assert sorted(one.sent + two.sent) == sorted(d.subscriber for d in digests)
    assert mailbox.counts() == Counter(d.subscriber for d in digests)


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from briefing.config import Smtp, Subscriber
    from briefing.digest.deliver import deliver
    from briefing.digest.render import render_digest, unsubscribe_token
    from briefing.store import Store
    from tests.digest_fixtures import fixed_config, fixed_edition

    tmp, port = Path(sys.argv[1]), int(sys.argv[2])
    smtp = Smtp(host="127.0.0.1", port=port, security="none", concurrency=1, retries=0)
    config = fixed_config(tmp, smtp=smtp)
    readers = [Subscriber(email=f"reader{i:03d}@example.org") for i in range(8)]
    digests = [render_digest(fixed_edition(), s, config) for s in readers]
    deliver(digests, config, Store(config.database_url))
    """
)


def test_crash_mid_way_then_rerun_sends_only_the_rest(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    child: list[subprocess.Popen[bytes]] = []

    def kill_sender_at_third(smtp: Any, recipient: str) -> str | None:
        if len(mailbox.received) == 2:
            os.kill(child[0].pid, signal.SIGKILL)  # mid-send: reserved, never completed
            return "451 4.3.0 sender vanished"
        return None

    mailbox.on_data = kill_sender_at_third
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child.append(
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path), str(server.port)], cwd=ROOT, env=env
        )
    )
    assert child[0].wait(timeout=60) == -signal.SIGKILL
    assert len(mailbox.received) == 2
    statuses = _statuses(fixed_config(tmp_path))
    assert sorted(statuses.values()) == ["reserved", "sent", "sent"]
    mailbox.on_data = None
    config = _config(tmp_path, server.port)
    readers = [Subscriber(email=f"reader{i:03d}@example.org") for i in range(8)]
    digests = [render_digest(fixed_edition(), s, config) for s in readers]
    report = _deliver(digests, config)
    assert len(report.skipped) == 2 and len(report.sent) == 6  # the dead run's reservation too
    assert mailbox.counts() == Counter(d.subscriber for d in digests)


# ---- TLS and login -------------------------------------------------------------------


def _server_tls(certificate: tuple[Path, Path]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_starttls_with_login_from_environment(
    tmp_path: Path,
    mailbox: Mailbox,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=_server_tls(certificate),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    try:
        monkeypatch.setenv("BRIEFING_SMTP_USERNAME", "briefing")
        monkeypatch.setenv("BRIEFING_SMTP_PASSWORD", "s3cret")
        config = _config(
            tmp_path, controller.port, security="starttls", ca_file=str(certificate[0])
        )
        digests = _digests(config)
        report = _deliver(digests, config)
        assert len(report.sent) == len(digests) and not report.failed
        assert logins and set(logins) == {(b"briefing", b"s3cret")}

        monkeypatch.setenv("BRIEFING_SMTP_PASSWORD", "wrong")
        bad = _config(
            tmp_path / "bad", controller.port, security="starttls", ca_file=str(certificate[0])
        )
        refused = _deliver(digests, bad)
        assert not refused.sent and len(refused.failed) == len(digests)
        assert all("login refused" in why for _, why in refused.failed)
        assert set(_statuses(bad).values()) <= {"failed"}  # retried by the next run
    finally:
        controller.stop()
    assert mailbox.counts() == Counter(d.subscriber for d in digests)


def test_implicit_tls(tmp_path: Path, mailbox: Mailbox, certificate: tuple[Path, Path]) -> None:
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        ssl_context=_server_tls(certificate),
        server_hostname="127.0.0.1",
    )
    controller.start()
    try:
        config = _config(tmp_path, controller.port, security="tls", ca_file=str(certificate[0]))
        report = _deliver(_digests(config), config)
    finally:
        controller.stop()
    assert len(report.sent) == 4 and len(mailbox.received) == 4


def test_untrusted_certificate_stops_the_run_without_sending(
    tmp_path: Path, mailbox: Mailbox, certificate: tuple[Path, Path]
) -> None:
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=_free_port(), tls_context=_server_tls(certificate)
    )
    controller.start()
    try:
        config = _config(tmp_path, controller.port, security="starttls")  # system CAs only
        report = _deliver(_digests(config), config)
    finally:
        controller.stop()
    assert not report.sent and len(report.failed) == 4
    assert all("certificate" in why for _, why in report.failed)
    assert not mailbox.received


def test_outbox_when_no_smtp_host(tmp_path: Path) -> None:
    config = fixed_config(tmp_path)
    hostile = _hostile_edition()  # a headline with <script> in it, for every subscriber
    digests = [render_digest(hostile, s, config) for s in config.subscribers]
    report = _deliver(digests, config)
    assert report.outbox == tmp_path / "outbox" / "2026-11-29"
    assert sorted(p.name for p in report.outbox.glob("*.eml")) == sorted(
        f"{d.subscriber}.eml" for d in digests
    )
    assert sorted(p.name for p in report.outbox.glob("*.html")) == sorted(
        ["index.html", *(f"{d.subscriber}.html" for d in digests)]
    )
    for digest in digests:
        preview = (report.outbox / f"{digest.subscriber}.html").read_text(encoding="utf-8")
        if digest.html is not None:
            assert preview == digest.html  # the HTML part as sent
            continue
        # A text-only digest: its text, escaped, in a right-to-left page.
        assert '<script>alert("x")</script>' in digest.text
        assert "<script" not in preview and "&lt;script&gt;" in preview
        assert '<html lang="ar" dir="rtl">' in preview
        assert 'dir="rtl" style="direction: rtl; text-align: right;"' in preview
        [shown] = re.findall(r'<pre dir="auto"[^>]*>(.*)</pre>', preview, re.S)
        assert htmllib.unescape(shown) == digest.text  # nothing lost or added
    index = (report.outbox / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl">' in index
    listed = re.findall(r'<td dir="ltr">([^<]*)</td>', index)
    assert sorted(listed) == sorted(d.subscriber for d in digests)  # each one, once
    for digest in digests:
        assert index.count(f'href="{digest.subscriber}.html"') == 1
        assert index.count(f'href="{digest.subscriber}.eml"') == 1
    first = _parse((report.outbox / "reader@example.org.eml").read_bytes())
    assert first["Subject"] == digests[0].subject


def test_unsubscribe_links_name_the_subscriber(tmp_path: Path) -> None:
    base = fixed_config(tmp_path)
    links = EmailSettings(
        sender="briefing@example.org",
        unsubscribe_mailto="mailto:unsubscribe@example.org?subject=stop%20{email}",
        unsubscribe_url="https://example.org/unsubscribe?who={email}",
    )
    config = base.model_copy(update={"settings": base.settings.model_copy(update={"email": links})})
    digest = render_digest(fixed_edition(), Subscriber(email="a+b@example.org"), config)
    msg = _parse(bytes(build_message(digest, config)))
    assert msg["List-Unsubscribe"].strip() == (
        "<mailto:unsubscribe@example.org?subject=stop%20a%2Bb@example.org>, "
        "<https://example.org/unsubscribe?who=a%2Bb@example.org>"
    )
    assert 'href="https://example.org/unsubscribe?who=a%2Bb@example.org"' in (digest.html or "")
    with pytest.raises(ValidationError, match="https://"):
        EmailSettings(unsubscribe_url="http://example.org/unsubscribe")
    with pytest.raises(ValidationError, match="mailto:"):
        EmailSettings(unsubscribe_mailto="unsubscribe@example.org")


def test_the_list_id_lets_mail_clients_file_the_digests(tmp_path: Path) -> None:
    base = fixed_config(tmp_path)

    def list_id(**email_settings: str) -> str:
        settings = base.settings.model_copy(update={"email": EmailSettings(**email_settings)})
        config = base.model_copy(update={"settings": settings})
        digest = render_digest(fixed_edition(), Subscriber(email="a@example.org"), config)
        return str(_parse(bytes(build_message(digest, config)))["List-Id"])

    assert list_id(sender="briefing@example.org") == "<briefing.example.org>"
    assert list_id(sender="news+am@example.org") == "<news-am.example.org>"
    assert list_id(sender="x@example.org", list_id="morning.news.example.org") == (
        "<morning.news.example.org>"
    )
    with pytest.raises(ValidationError, match="is not a list id"):
        EmailSettings(list_id="morning news")


def test_a_signed_token_in_the_unsubscribe_link_lets_the_page_tell_who_clicked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "a long random secret the unsubscribe page shares"
    monkeypatch.setenv("BRIEFING_UNSUBSCRIBE_SECRET", secret)
    base = fixed_config(tmp_path)
    links = EmailSettings(
        sender="briefing@example.org",
        unsubscribe_url="https://example.org/unsubscribe?who={email}&t={token}",
    )
    config = base.model_copy(update={"settings": base.settings.model_copy(update={"email": links})})
    for address in ("Sara@example.org", "omar@example.org"):
        digest = render_digest(fixed_edition(), Subscriber(email=address), config)
        header = _parse(bytes(build_message(digest, config)))["List-Unsubscribe"].strip()
        # What the page computes from the address it is given, as docs/email.md shows it.
        mac = hmac.new(secret.encode(), address.lower().encode(), hashlib.sha256).digest()
        token = base64.urlsafe_b64encode(mac).decode().rstrip("=")[:22]
        url = f"https://example.org/unsubscribe?who={address}&t={token}"
        assert header == f"<{url}>"
        assert f'href="{htmllib.escape(url)}"' in (digest.html or "")
    assert unsubscribe_token("Sara@example.org", secret) != unsubscribe_token(
        "Sara@example.org", "x"
    )


def test_a_token_without_its_secret_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRIEFING_UNSUBSCRIBE_SECRET", raising=False)
    (tmp_path / "briefing.yaml").write_text(
        "sections: {news: أخبار}\nemail:\n  unsubscribe_url: https://example.org/u?t={token}\n",
        "utf-8",
    )
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: f, url: 'https://example.org/rss', section: news}\n", "utf-8"
    )
    (tmp_path / "subscribers.yaml").write_text("subscribers: []\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "briefing.yaml")
    assert caught.value.problems == [
        f"{tmp_path / 'briefing.yaml'}:3: email.unsubscribe_url: uses {{token}}, but "
        "$BRIEFING_UNSUBSCRIBE_SECRET is not set: set it to the long random secret your "
        "unsubscribe page checks tokens with"
    ]


def test_deliver_works_from_inside_a_running_event_loop(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    import asyncio

    config = _config(tmp_path, server.port)
    digests = _digests(config)

    async def scheduler_job() -> DeliveryReport:
        return _deliver(digests, config)

    report = asyncio.run(scheduler_job())
    assert len(report.sent) == len(digests) == len(mailbox.received)


def test_unreachable_relay_stops_the_run_quickly_and_leaves_everything_for_the_next(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, _free_port(), retries=2, concurrency=2)  # nobody listens
    digests = _digests(config, n=40)
    started = time.monotonic()
    report = _deliver(digests, config)
    assert time.monotonic() - started < 5  # not 44 messages x 3 attempts
    assert not report.sent and len(report.failed) == len(digests)
    assert all("unreachable" in why or "ConnectError" in why for _, why in report.failed)
    assert set(_statuses(config).values()) <= {"failed"}  # at most the attempted ones


def test_starttls_required_but_not_offered_is_an_error_not_a_downgrade(
    tmp_path: Path, server: Controller, mailbox: Mailbox
) -> None:
    config = _config(tmp_path, server.port, security="starttls")
    report = _deliver(_digests(config), config)
    assert not report.sent and len(report.failed) == 4
    assert all("STARTTLS" in why for _, why in report.failed)
    assert not mailbox.received


def test_reservations_of_other_hosts_are_taken_over_only_when_stale(tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from briefing.store import deliveries

    store = Store(f"sqlite:///{tmp_path / 'briefing.db'}")
    try:
        hour = timedelta(hours=1)
        assert store.reserve_delivery("e", "a@example.org", "<m>", stale_after=hour)
        assert not store.reserve_delivery("e", "a@example.org", "<m>", stale_after=hour)
        with store.engine.begin() as conn:  # as if a run on another machine held it
            conn.execute(update(deliveries).values(reserved_by="elsewhere:1"))
        assert not store.reserve_delivery("e", "a@example.org", "<m>", stale_after=hour)
        assert store.reserve_delivery("e", "a@example.org", "<m>", stale_after=timedelta(0))
        store.complete_delivery("e", "a@example.org")
        assert not store.reserve_delivery("e", "a@example.org", "<m>", stale_after=timedelta(0))
        [row] = store.delivery_rows("e")
        assert row["status"] == "sent" and row["attempts"] == 2
    finally:
        store.close()


def test_the_boundary_stays_within_70_characters_whatever_the_domain(tmp_path: Path) -> None:
    config = fixed_config(tmp_path)
    digest = replace(_digests(config)[0], edition_id="2026-11-29-evening-special-edition")
    long_domain = config.settings.email.model_copy(
        update={"sender": "briefing@news.a-very-long-publisher-domain.example.org"}
    )
    settings = config.settings.model_copy(update={"email": long_domain})
    raw = message_bytes(digest, config.model_copy(update={"settings": settings}))
    boundary = _parse(raw).get_boundary()
    assert boundary == mime_boundary(digest) and len(boundary) <= 70


def test_an_address_with_a_line_end_is_refused_not_sent_with_forged_headers(
    tmp_path: Path,
) -> None:
    config = fixed_config(tmp_path)
    digest = replace(_digests(config)[0], subscriber="victim@example.org\nBcc: all@example.org")
    with pytest.raises(DeliveryError, match="control characters"):
        message_bytes(digest, config)


def test_outbox_names_never_collide() -> None:
    addresses = ["a+b@example.org", "a_b@example.org", "a b@example.org", "reader@example.org"]
    names = [outbox_name(a) for a in addresses]
    assert len(set(names)) == len(names)
    assert outbox_name("reader@example.org") == "reader@example.org"  # readable when it can be
    assert all("/" not in n and ".." not in n.replace("@", "") for n in names)
