"""Bounces and unsubscribe mails read from a real IMAP server (pymap, tests/imap_server.py),
acted on in a real SQLite store, for digests first sent through a real aiosmtpd."""

from __future__ import annotations

import email
import imaplib
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from briefing.config import Config
from briefing.digest.deliver import deliver
from briefing.digest.mailbox import _move, _Session, bounces_of, read_mailbox
from briefing.digest.render import render_digest, unsubscribe_token
from briefing.errors import EXIT_PARTIAL, ConfigError
from briefing.models import Digest
from briefing.store import Store
from tests.digest_fixtures import fixed_config, fixed_edition
from tests.imap_server import PASSWORD, USER, ImapServer, imap_server
from tests.servers import Mailbox, smtp_sink
from tests.test_deliver import FAST, _relay

PROCESSED = "briefing-processed"


@pytest.fixture
def imap() -> Iterator[ImapServer]:
    with imap_server() as server:
        yield server


def _config(tmp: Path, imap_port: int, smtp_port: int | None = None, **mailbox: object) -> Config:
    config = fixed_config(tmp)
    box = config.settings.mailbox.model_copy(
        update={"host": "127.0.0.1", "port": imap_port, "security": "none", **mailbox}
    )
    updates: dict[str, object] = {"mailbox": box}
    if smtp_port is not None:
        updates["smtp"] = config.settings.smtp.model_copy(
            update={"host": "127.0.0.1", "port": smtp_port, "security": "none", **FAST}
        )
    return config.model_copy(update={"settings": config.settings.model_copy(update=updates)})


@pytest.fixture(autouse=True)
def _login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFING_IMAP_USERNAME", USER)
    monkeypatch.setenv("BRIEFING_IMAP_PASSWORD", PASSWORD)


def _digests(config: Config, edition_id: str) -> list[Digest]:
    return [
        replace(render_digest(fixed_edition(), s, config), edition_id=edition_id)
        for s in config.subscribers
    ]


def _send(config: Config, store: Store, edition_id: str, relay: Mailbox) -> dict[str, str]:
    """Deliver an edition through the relay; {recipient: Message-ID} of what it accepted."""
    start = len(relay.received)
    report = deliver(_digests(config, edition_id), config, store)
    assert report.failed == ()
    return {
        rcpt: email.message_from_bytes(data)["Message-ID"] for rcpt, data in relay.received[start:]
    }


def _demo_with_mailbox(demo_dir: Path, **mailbox: object) -> Path:
    """The demo's briefing.yaml, given a `mailbox:` section; its path."""
    path = demo_dir / "briefing.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["mailbox"] = mailbox
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The store fixed_config(tmp_path) names (a SQLite file)."""
    opened = Store(fixed_config(tmp_path).database_url)
    yield opened
    opened.close()


def _briefing(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line as an operator runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "briefing", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def dsn(
    recipient: str,
    message_id: str | None,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    subject: str = "Undelivered Mail Returned to Sender",
) -> bytes:
    """A delivery status notification as Postfix writes one (RFC 3464), with the returned
    headers when `message_id` is given."""
    returned = (
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: briefing@example.org\r\nTo: {recipient}\r\nMessage-ID: {message_id}\r\n\r\n"
        if message_id
        else ""
    )
    return (
        "From: MAILER-DAEMON@relay.example.org (Mail Delivery System)\r\n"
        "To: briefing@example.org\r\n"
        f"Subject: {subject}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.example.net\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected:\r\n"
        "    User unknown in virtual mailbox table\r\n\r\n"
        f"{returned}--B--\r\n"
    ).encode()


def complaint(message_id: str | None, recipient: str = "redacted") -> bytes:
    """A feedback loop report (ARF, RFC 5965) as providers send one: the recipient blanked
    out, the digest's headers returned."""
    returned = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        "From: feedback@fbl.mail.example.net\r\n"
        "To: bounces@example.org\r\n"
        "Subject: complaint about message from 192.0.2.1\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: ExampleFBL/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: <{recipient}>\r\n\r\n"
        "--F\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: briefing@example.org\r\nTo: {recipient}\r\n{returned}"
        "Subject: digest\r\n\r\nbody\r\n--F--\r\n"
    ).encode()


def mail(sender: str, to: str, subject: str, *extra: str) -> bytes:
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", *extra]
    return ("\r\n".join(headers) + "\r\n\r\nplease\r\n").encode()


# ---- bounces ---------------------------------------------------------------------------


def test_three_bounced_editions_hold_the_mailbox_back_and_the_others_still_get_theirs(
    tmp_path: Path, imap: ImapServer, store: Store
) -> None:
    relay = Mailbox()
    with _relay(relay) as smtp:
        config = _config(tmp_path, imap.port, smtp.port)
        for day in ("2026-11-26", "2026-11-27", "2026-11-28"):
            sent = _send(config, store, day, relay)
            # The relay said 250; the reader's provider refuses it later, by mail.
            imap.deliver(dsn("reader@example.org", sent["reader@example.org"]))
        imap.deliver(mail("friend@example.net", "briefing@example.org", "thanks!"))

        report = read_mailbox(config, store)
        assert report is not None and report.error is None
        assert [who for who, _ in report.bounced] == ["reader@example.org"] * 3
        assert report.bounced[0][1] == (
            "bounced: 550 5.1.1 <reader@example.org>: Recipient address rejected: "
            "User unknown in virtual mailbox table"
        )
        # A reader's reply is neither: not even downloaded, and left for a person.
        assert report.left == 0 and report.unsubscribed == ()
        assert imap.subjects("INBOX") == ["thanks!"]
        assert len(imap.subjects(PROCESSED)) == 3

        before = len(relay.received)
        fourth = deliver(_digests(config, "2026-11-29"), config, store)
    assert sorted(r for r, _ in relay.received[before:]) == sorted(
        s.email for s in config.subscribers if s.email != "reader@example.org"
    )
    [(who, why)] = fourth.failed
    assert who == "reader@example.org" and why.startswith("held back: its last 3 editions")


def test_a_bounce_without_returned_headers_counts_against_the_readers_latest_edition(
    tmp_path: Path, imap: ImapServer, store: Store
) -> None:
    relay = Mailbox()
    with _relay(relay) as smtp:
        config = _config(tmp_path, imap.port, smtp.port)
        _send(config, store, "2026-11-27", relay)
        _send(config, store, "2026-11-28", relay)
    # Some relays return no headers, and providers lowercase what they report.
    imap.deliver(dsn("Economy@Example.org", None))
    report = read_mailbox(config, store)
    assert report is not None and [w for w, _ in report.bounced] == ["economy@example.org"]
    assert store.delivery_status("2026-11-28")["economy@example.org"] == "failed_permanent"
    assert store.delivery_status("2026-11-27")["economy@example.org"] == "sent"
    # Read again: nothing is left to act on, and the bounce is not counted twice.
    imap.deliver(dsn("economy@example.org", None))
    again = read_mailbox(config, store)
    assert again is not None and again.bounced == () and again.left == 0
    assert store.delivery_status("2026-11-27")["economy@example.org"] == "sent"


def test_bounces_go_to_the_bounce_address_and_replies_to_the_sender(tmp_path: Path) -> None:
    with smtp_sink() as (sink, port):
        config = _config(tmp_path, 1, port)
        email_settings = config.settings.email.model_copy(
            update={"bounce_address": "bounces@example.org"}
        )
        settings = config.settings.model_copy(update={"email": email_settings})
        config = config.model_copy(update={"settings": settings})
        store = Store(config.database_url)
        report = deliver(_digests(config, "2026-11-29"), config, store)
        store.close()
    assert len(report.sent) == len(sink.messages) == len(config.subscribers)
    assert {m.sender for m in sink.messages} == {"bounces@example.org"}  # MAIL FROM
    assert {m.message["From"].addresses[0].addr_spec for m in sink.messages} == {
        "briefing@example.org"
    }


def test_a_full_mailbox_is_read_in_batches(tmp_path: Path, imap: ImapServer, store: Store) -> None:
    # Bounces of addresses no delivery knows (an old list): acted on, counted nowhere.
    imap.deliver(*(dsn(f"gone{i}@example.net", None, subject=f"bounce {i}") for i in range(120)))
    report = read_mailbox(_config(tmp_path, imap.port), store)
    assert report is not None and report.error is None and report.bounced == ()
    assert imap.subjects("INBOX") == []
    assert imap.subjects(PROCESSED) == [f"bounce {i}" for i in range(120)]


def test_delay_notices_and_temporary_failures_are_left_for_a_person(
    tmp_path: Path, imap: ImapServer, store: Store
) -> None:
    config = _config(tmp_path, imap.port)
    imap.deliver(
        dsn("reader@example.org", None, action="delayed", status="4.4.1", subject="Delayed"),
        dsn("reader@example.org", None, status="4.2.2", subject="Mailbox full, gave up"),
    )
    report = read_mailbox(config, store)
    assert report is not None and report.bounced == () and report.left == 2
    assert imap.subjects("INBOX") == ["Delayed", "Mailbox full, gave up"]


def test_a_dsn_is_read_as_rfc_3464_says() -> None:
    message = email.message_from_bytes(dsn("a@example.net", "<briefing.2026-11-29.abc@x>"))
    [bounce] = bounces_of(message)
    assert (bounce.recipient, bounce.message_id, bounce.status) == (
        "a@example.net",
        "<briefing.2026-11-29.abc@x>",
        "5.1.1",
    )
    plain = email.message_from_bytes(mail("a@example.net", "b@example.org", "hello"))
    assert bounces_of(plain) == []


# ---- spam complaints -------------------------------------------------------------------


def test_a_spam_complaint_unsubscribes_the_reader_its_digest_went_to(
    tmp_path: Path, imap: ImapServer, store: Store
) -> None:
    relay = Mailbox()
    with _relay(relay) as smtp:
        config = _config(tmp_path, imap.port, smtp.port)
        sent = _send(config, store, "2026-11-28", relay)
        imap.deliver(
            # The provider blanks the address: the digest's Message-ID says who it was.
            complaint(sent["economy@example.org"]),
            # Some providers leave the address and return no Message-ID.
            complaint(None, recipient="English@example.org"),
            # A complaint about mail that is not ours: nothing to do.
            complaint("<someone.else@example.net>"),
        )
        report = read_mailbox(config, store)
        assert report is not None
        assert report.complained == ("economy@example.org", "english@example.org")
        assert report.unsubscribed == () and report.left == 0
        assert "  unsubscribed after a spam complaint: economy@example.org" in report.lines()
        [(_, via)] = store.unsubscribed(["economy@example.org"]).values()
        assert via == "complaint"
        before = len(relay.received)
        deliver(_digests(config, "2026-11-29"), config, store)
    assert sorted(r for r, _ in relay.received[before:]) == [
        "reader@example.org",
        "text-only@example.org",
    ]
    assert len(imap.subjects(PROCESSED)) == 3 and imap.subjects("INBOX") == []


# ---- unsubscribe mails -----------------------------------------------------------------


def test_an_unsubscribe_mail_unsubscribes_its_sender_before_the_next_delivery(
    tmp_path: Path, imap: ImapServer, store: Store
) -> None:
    relay = Mailbox()
    # What a mail client sends for the digest's mailto: link, from the reader's own address.
    imap.deliver(
        mail("Sara <Reader@Example.org>", "unsubscribe@example.org", "unsubscribe"),
        # An out-of-office reply to the same address asks for nothing (RFC 3834).
        mail(
            "english@example.org",
            "unsubscribe@example.org",
            "Out of office",
            "Auto-Submitted: auto-replied",
        ),
        # A subject in a charset nobody knows does not stop the read.
        mail("economy@example.org", "unsubscribe@example.org", "=?x-unknown?Q?stop?="),
        # A stranger is no subscriber: a person decides.
        mail("stranger@example.net", "unsubscribe@example.org", "unsubscribe"),
    )
    with _relay(relay) as smtp:
        config = _config(tmp_path, imap.port, smtp.port)
        report = read_mailbox(config, store)
        assert report is not None
        assert report.unsubscribed == ("reader@example.org", "economy@example.org")
        assert report.left == 2
        [(_, via)] = store.unsubscribed(["reader@example.org"]).values()
        assert via == "mail"
        delivered = deliver(_digests(config, "2026-11-29"), config, store)
    assert {r for r, _ in relay.received} == {"text-only@example.org", "english@example.org"}
    assert [who for who, _ in delivered.unsubscribed] == [
        "reader@example.org",
        "economy@example.org",
    ]
    assert imap.subjects("INBOX") == ["Out of office", "unsubscribe"]


def test_a_signed_subject_names_the_subscriber_whatever_address_the_mail_comes_from(
    tmp_path: Path, imap: ImapServer, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv("BRIEFING_UNSUBSCRIBE_SECRET", "secret")
    config = _config(tmp_path, imap.port)
    link = "mailto:unsubscribe@example.org?subject=unsubscribe%20{email}%20{token}"
    settings = config.settings.model_copy(
        update={"email": config.settings.email.model_copy(update={"unsubscribe_mailto": link})}
    )
    config = config.model_copy(update={"settings": settings})
    good = unsubscribe_token("economy@example.org", "secret")
    forged = unsubscribe_token("text-only@example.org", "another secret")
    imap.deliver(
        # The reader's mail is forwarded to another mailbox, which answers.
        mail(
            "me@forwarded.example.net",
            "unsubscribe@example.org",
            f"unsubscribe economy@example.org {good}",
        ),
        mail(
            "me@forwarded.example.net",
            "unsubscribe@example.org",
            f"unsubscribe text-only@example.org {forged}",
        ),
    )
    report = read_mailbox(config, store)
    assert report is not None and report.unsubscribed == ("economy@example.org",)
    assert report.left == 1  # the forged token proves nothing, and its sender is no subscriber
    assert store.unsubscribed(["text-only@example.org"]) == {}


# ---- the server, the login, the folders -------------------------------------------------


def test_a_wrong_password_is_reported_and_the_run_goes_on(
    tmp_path: Path,
    imap: ImapServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    store: Store,
) -> None:
    monkeypatch.setenv("BRIEFING_IMAP_PASSWORD", "wrong")
    with caplog.at_level(logging.ERROR):
        report = read_mailbox(_config(tmp_path, imap.port), store)
    assert report is not None and report.error is not None
    assert report.error.startswith(f"127.0.0.1:{imap.port}: ")
    assert "mailbox: not read: 127.0.0.1" in report.lines()[0]
    assert "mailbox 127.0.0.1 not read" in caplog.text


def test_implicit_tls_against_a_plain_server_and_a_missing_folder_say_what_is_wrong(
    tmp_path: Path, imap: ImapServer, store: Store
) -> None:
    tls = read_mailbox(_config(tmp_path, imap.port, security="tls", timeout_seconds=5), store)
    folder = read_mailbox(_config(tmp_path, imap.port, folder="Bounces"), store)
    assert tls is not None and tls.error is not None
    assert tls.error.startswith(f"cannot reach 127.0.0.1:{imap.port}: ")
    assert folder is not None and folder.error is not None
    assert folder.error.startswith("folder 'Bounces': ")


def test_starttls_with_a_private_ca(
    tmp_path: Path, certificate: tuple[Path, Path], store: Store
) -> None:
    cert, key = certificate
    with imap_server(cert, key) as server:
        server.deliver(mail("reader@example.org", "unsubscribe@example.org", "unsubscribe"))
        config = _config(tmp_path, server.port, security="starttls", ca_file=str(cert))
        report = read_mailbox(config, store)
    assert report is not None and report.error is None
    assert report.unsubscribed == ("reader@example.org",)


def test_without_move_the_mails_are_copied_then_expunged_alone(
    tmp_path: Path, imap: ImapServer
) -> None:
    imap.deliver(
        mail("a@example.net", "x@example.org", "first"),
        mail("b@example.net", "x@example.org", "second"),
    )
    config = _config(tmp_path, imap.port)
    with _Session(config.settings.mailbox) as client:
        client.capabilities = tuple(c for c in client.capabilities if c != "MOVE")
        _, found = client.uid("SEARCH", "ALL")
        _move(client, found[0].split()[:1], PROCESSED)
    assert imap.subjects("INBOX") == ["second"]
    assert imap.subjects(PROCESSED) == ["first"]


def test_a_mailbox_without_its_login_is_a_configuration_error(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from briefing.config import load_config

    monkeypatch.delenv("BRIEFING_IMAP_PASSWORD")
    path = _demo_with_mailbox(demo_dir, host="imap.example.org")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.endswith(
        "mailbox.host: reading the mailbox needs its login: set $BRIEFING_IMAP_PASSWORD "
        "(never in YAML)"
    )


def test_the_command_reads_the_mailbox_and_exits_1_when_it_cannot(
    demo_dir: Path, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _demo_with_mailbox(demo_dir, host="127.0.0.1", port=imap.port, security="none")
    subscriber = yaml.safe_load((demo_dir / "subscribers.yaml").read_text("utf-8"))
    first = subscriber["subscribers"][0]["email"]
    imap.deliver(mail(first, "unsubscribe@example.org", "unsubscribe"))

    checked = _briefing(path, "check-config")
    assert (
        f"  mailbox (bounces, complaints, unsubscribe mails): IMAP 127.0.0.1:{imap.port} INBOX"
        in (checked.stdout)
    )
    done = _briefing(path, "mailbox")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        "mailbox: 1 unsubscribed, 0 spam complaints, 0 bounced, 0 left for a person",
        f"  unsubscribed by mail: {first}",
    ]
    monkeypatch.setenv("BRIEFING_IMAP_PASSWORD", "wrong")
    failed = _briefing(path, "mailbox")
    assert failed.returncode == EXIT_PARTIAL
    assert failed.stdout.startswith("mailbox: not read: 127.0.0.1:")


def test_a_server_that_cannot_search_by_header_has_every_mail_looked_at(
    tmp_path: Path, imap: ImapServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = imaplib.IMAP4.uid

    def no_header_search(self: imaplib.IMAP4, command: str, *args: str) -> object:
        if command == "SEARCH" and "HEADER" in args[0]:  # the fault: BAD, as old servers say
            raise imaplib.IMAP4.error("SEARCH command error: BAD [b'Unknown search key']")
        return uid(self, command, *args)

    monkeypatch.setattr(imaplib.IMAP4, "uid", no_header_search)
    imap.deliver(
        mail("reader@example.org", "unsubscribe@example.org", "unsubscribe"),
        mail("friend@example.net", "briefing@example.org", "thanks!"),
    )
    report = read_mailbox(_config(tmp_path, imap.port), store)
    assert report is not None and report.error is None
    assert report.unsubscribed == ("reader@example.org",) and report.left == 1
    assert imap.subjects("INBOX") == ["thanks!"]


def test_an_imap_error_is_never_raised_past_read_mailbox(
    tmp_path: Path, imap: ImapServer, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    # A server that breaks off mid-read (the fault injected): the run still gets a report.
    def broken(*args: object) -> tuple[str, list[bytes]]:
        raise imaplib.IMAP4.abort("socket error: EOF")

    imap.deliver(mail("a@example.net", "x@example.org", "first"))
    monkeypatch.setattr(imaplib.IMAP4, "uid", broken)
    report = read_mailbox(_config(tmp_path, imap.port), store)
    assert report is not None and report.error == "folder 'INBOX' cannot be read: socket error: EOF"


def test_a_run_applies_unsubscribe_mails_first_and_still_sends_when_the_mailbox_fails(
    demo_dir: Path, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _demo_with_mailbox(demo_dir, host="127.0.0.1", port=imap.port, security="none")
    imap.deliver(mail("reader@example.org", "unsubscribe@example.org", "unsubscribe"))

    done = _briefing(path, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "mailbox: 1 unsubscribed, 0 spam complaints, 0 bounced, 0 left for a person" in done.stdout
    )
    assert "mailbox_unsubscribed=1" in done.stderr
    [outbox] = (demo_dir.parent / "var" / "demo" / "outbox").iterdir()
    written = sorted(p.name for p in outbox.glob("*.eml"))
    assert written and "reader@example.org.eml" not in written

    monkeypatch.setenv("BRIEFING_IMAP_PASSWORD", "wrong")
    for eml in outbox.glob("*.eml"):
        eml.unlink()
    failed = _briefing(path, "run")
    assert failed.returncode == EXIT_PARTIAL, failed.stdout + failed.stderr
    assert f"mailbox: not read: 127.0.0.1:{imap.port}: " in failed.stdout
    assert sorted(p.name for p in outbox.glob("*.eml")) == written  # the edition went out


def test_send_reads_the_mailbox_before_it_delivers_an_edition_built_earlier(
    demo_dir: Path, imap: ImapServer
) -> None:
    path = _demo_with_mailbox(demo_dir, host="127.0.0.1", port=imap.port, security="none")

    built = _briefing(path, "run")
    assert built.returncode == 0, built.stdout + built.stderr
    [outbox] = (demo_dir.parent / "var" / "demo" / "outbox").iterdir()
    assert (outbox / "reader@example.org.eml").exists()
    for written in outbox.iterdir():  # as if the edition had not been sent yet
        written.unlink()
    imap.deliver(mail("reader@example.org", "unsubscribe@example.org", "unsubscribe"))
    sent = _briefing(path, "send")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "mailbox: 1 unsubscribed, 0 spam complaints, 0 bounced" in sent.stdout
    assert "mailbox_unsubscribed=1" in sent.stderr
    assert not (outbox / "reader@example.org.eml").exists()
    assert (outbox / "economy@example.org.eml").exists()
