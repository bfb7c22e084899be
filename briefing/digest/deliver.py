"""Delivery: MIME messages, sent once each over SMTP, or written to an outbox folder.

Exactly once lives in the store: a delivery row (edition, subscriber) is reserved just before
a message is sent and completed just after, so a run that crashed and is started again sends
only what is left, and two runs at once never both send. Within a run, a few SMTP
connections (`smtp.concurrency`) are each reused for many messages; 4xx replies and dropped
connections are retried with exponential backoff, 5xx replies fail that recipient only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import logging
import os
import random
import re
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import message_from_bytes
from email.header import Header
from email.message import Message
from email.utils import format_datetime, formataddr
from functools import lru_cache
from pathlib import Path

import aiosmtplib

from briefing.config import Config, EmailSettings, Smtp
from briefing.digest.render import unsubscribe_links
from briefing.errors import EXIT_NOTHING_SENT, EXIT_OK, EXIT_PARTIAL, DeliveryError
from briefing.models import Digest
from briefing.store import Store, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # sent before, or being sent by another run
    failed: tuple[tuple[str, str], ...] = ()  # (recipient, reason)
    outbox: Path | None = None
    unsubscribed: tuple[tuple[str, str], ...] = ()  # (recipient, since when and how)

    def lines(self) -> list[str]:
        """What the run and send commands print about delivery."""
        where = f" in {self.outbox}" if self.outbox else ""
        head = (
            f"digests {'written' if self.outbox else 'sent'}: {len(self.sent)}{where}"
            + (f", already sent: {len(self.skipped)}" if self.skipped else "")
            + (f", unsubscribed: {len(self.unsubscribed)}" if self.unsubscribed else "")
            + (f", failed: {len(self.failed)}" if self.failed else "")
        )
        return [
            head,
            *(f"  recipient {who}: {why}" for who, why in self.failed),
            *(f"  recipient {who}: {why}" for who, why in self.unsubscribed),
        ]

    def exit_code(self, subscribers: int) -> int:
        """0 all delivered, 1 some recipients failed, 3 nothing could be delivered (to
        anyone still subscribed)."""
        if subscribers > len(self.unsubscribed) and not (self.sent or self.skipped):
            return EXIT_NOTHING_SENT
        return EXIT_PARTIAL if self.failed else EXIT_OK


# ---- messages ------------------------------------------------------------------------


def message_id(digest: Digest, domain: str) -> str:
    """Stable per subscriber and edition, so a resend is recognisably the same message."""
    return f"<briefing.{digest.edition_id}.{_message_key(digest)}@{domain}>"


def mime_boundary(digest: Digest) -> str:
    """The multipart boundary: stable, and 35 characters whatever the edition id or the
    sender's domain (RFC 2046 allows 70)."""
    return f"=_briefing_{_message_key(digest)}"


def _message_key(digest: Digest) -> str:
    return hashlib.sha256(f"{digest.edition_id}\0{digest.subscriber}".encode()).hexdigest()[:24]


def message_bytes(
    digest: Digest, config: Config, *, now: datetime | None = None, eight_bit: bool = False
) -> bytes:
    """The message as sent: MIME with CRLF line ends, ready for SMTP or an .eml file.

    Written out directly rather than through the email package's generator, which spent
    half the sender's CPU on it (line by line writes, a boundary search over the body).
    The format is fixed and small: headers, then one or two UTF-8 parts. A part is base64
    (byte for byte what was rendered, short lines, safe through any relay) unless
    `eight_bit` is set (the relay announced 8BITMIME, RFC 6152) and the part can travel as
    it is: then it goes as 8bit UTF-8, for an Arabic digest a quarter fewer bytes and a
    third fewer lines than base64, which both the relay and this process pay for.
    """
    if not digest.subscriber.isascii():
        raise DeliveryError(
            f"{digest.subscriber!r} is not an ASCII address (SMTPUTF8 is not supported)"
        )
    if not digest.subscriber.isprintable() or " " in digest.subscriber:
        # A line end in the address would end the headers early and forge the rest.
        raise DeliveryError(f"{digest.subscriber!r} has spaces or control characters")
    email = config.settings.email
    domain = email.sender.rsplit("@", 1)[1]
    headers = [
        ("From", _encoded_sender(email.sender_name, email.sender)),
        ("To", digest.subscriber),
        ("Subject", _encoded_subject(digest.subject)),
        ("Date", format_datetime(now or utcnow())),
        ("Message-ID", message_id(digest, domain)),
        ("List-Id", f"<{list_id(email)}>"),
    ]
    mailto, url = unsubscribe_links(email, digest.subscriber)
    unsubscribe = [f"<{u}>" for u in (mailto, url) if u]
    if unsubscribe:
        headers.append(("List-Unsubscribe", ",\r\n ".join(unsubscribe)))
        if url:  # one-click (RFC 8058) needs the https address
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    headers += [("Auto-Submitted", "auto-generated"), ("MIME-Version", "1.0")]
    if digest.html is None:
        body = _part(digest.text, "plain", eight_bit=eight_bit)
        body += "" if body.endswith("\r\n") else "\r\n"  # SMTP data ends with a line end
    else:
        boundary = mime_boundary(digest)
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        plain = _part(digest.text, "plain", eight_bit=eight_bit, boundary=boundary)
        rich = _part(digest.html, "html", eight_bit=eight_bit, boundary=boundary)
        # A blank line ends the headers; the CRLF before each "--boundary" belongs to the
        # boundary, not to the part before it.
        body = f"\r\n--{boundary}\r\n{plain}\r\n--{boundary}\r\n{rich}\r\n--{boundary}--\r\n"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("ascii") + body.encode("utf-8")


def list_id(email: EmailSettings) -> str:
    """The List-Id (RFC 2919): `email.list_id`, else the sender's address as a dot-atom."""
    if email.list_id:
        return email.list_id
    local, domain = email.sender.rsplit("@", 1)
    return f"{re.sub(r'[^A-Za-z0-9-]+', '-', local).strip('-') or 'digest'}.{domain}"


# The sender and the subject are the same for a whole edition: encode them once.
@lru_cache(maxsize=8)
def _encoded_sender(name: str | None, address: str) -> str:
    return formataddr((name, address), charset="utf-8")


@lru_cache(maxsize=8)
def _encoded_subject(subject: str) -> str:
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1, without the CRLF


def _part(text: str, subtype: str, *, eight_bit: bool, boundary: str = "") -> str:
    """A part's headers and body: 8bit bodies keep their last line end, as part of the
    content; base64 bodies need none."""
    if eight_bit and _fits_8bit(text, boundary):
        encoding, body = "8bit", text.replace("\n", "\r\n")
    else:
        encoding = "base64"
        body = base64.encodebytes(text.encode("utf-8")).decode("ascii")
        body = body.replace("\n", "\r\n").removesuffix("\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n{body}"
    )


def _fits_8bit(text: str, boundary: str) -> bool:
    """Whether text can travel as 8bit (RFC 6152): no bare CR or NUL, which SMTP would
    rewrite or refuse, lines within the SMTP limit, and no line taken for the boundary."""
    if "\r" in text or "\0" in text or (boundary and boundary in text):
        return False
    return max(map(len, text.encode("utf-8").split(b"\n"))) <= MAX_LINE_OCTETS


def build_message(digest: Digest, config: Config, *, now: datetime | None = None) -> Message:
    """The same message parsed back, for code that wants headers and parts as objects."""
    return message_from_bytes(message_bytes(digest, config, now=now))


# ---- outbox --------------------------------------------------------------------------


def write_outbox(
    digests: list[Digest], config: Config, store: Store | None = None
) -> DeliveryReport:
    """Write each digest as an .eml file and an .html preview, plus an index.html per edition.

    Writing is idempotent (same names, same content), so no reservation is needed.
    """
    if not digests:
        return DeliveryReport()
    folder = config.outbox_dir / digests[0].edition_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for digest in digests:
            name = outbox_name(digest.subscriber)
            (folder / f"{name}.eml").write_bytes(message_bytes(digest, config))
            (folder / f"{name}.html").write_text(digest.html or text_as_html(digest.text), "utf-8")
        write_index(folder, digests)
    except OSError as exc:
        raise DeliveryError(
            f"outbox {folder}: cannot write {exc.filename or folder}: {exc.strerror}",
            hint="check that this user may write there and the disk has room, or set "
            "outbox in briefing.yaml to another folder",
        ) from exc
    return DeliveryReport(sent=tuple(d.subscriber for d in digests), outbox=folder)


def outbox_name(address: str) -> str:
    """A subscriber's file name: the address itself when it is made of safe characters,
    else its safe form and a short hash of the exact address, so that two subscribers never
    share a file (a+b@example.org and a_b@example.org)."""
    safe = "".join(c if c.isalnum() or c in "@._-" else "_" for c in address)
    if safe == address:
        return safe
    return f"{safe}-{hashlib.sha256(address.encode()).hexdigest()[:8]}"


def text_as_html(text: str) -> str:
    """A text-only digest shown in a browser: escaped, right to left, wrapped."""
    return (
        '<!DOCTYPE html>\n<html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        '<body dir="rtl" style="direction: rtl; text-align: right;">'
        '<pre dir="auto" style="white-space: pre-wrap; font-family: Tahoma, sans-serif;">'
        f"{html.escape(text)}</pre></body></html>\n"
    )


def write_index(folder: Path, digests: list[Digest]) -> None:
    """index.html: one row per subscriber, linking the preview and the .eml file."""
    rows = "\n".join(
        "<tr>"
        f'<td dir="ltr">{html.escape(d.subscriber)}</td>'
        f"<td>{'HTML' if d.html is not None else 'نص'}</td>"
        f"<td>{len(d.story_ids)}</td>"
        f'<td><a href="{html.escape(outbox_name(d.subscriber))}.html">{html.escape(d.subject)}</a>'
        f' · <a href="{html.escape(outbox_name(d.subscriber))}.eml">eml</a></td>'
        "</tr>"
        for d in digests
    )
    edition = html.escape(digests[0].edition_id)
    page = (
        '<!DOCTYPE html>\n<html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{edition}</title></head>"
        '<body dir="rtl" style="direction: rtl; text-align: right; '
        'font-family: Tahoma, sans-serif;">'
        f"<h1>العدد {edition}</h1>"
        '<table dir="rtl" cellpadding="6" style="border-collapse: collapse;">'
        "<tr><th>المشترك</th><th>الصيغة</th><th>الأخبار</th><th>الرسالة</th></tr>\n"
        f"{rows}\n</table></body></html>\n"
    )
    (folder / "index.html").write_text(page, "utf-8")


# ---- SMTP ----------------------------------------------------------------------------


class _Fatal(DeliveryError):
    """The relay refuses us altogether (bad login, bad certificate, sender refused)."""


@dataclass
class _Run:
    """What the workers of one send share."""

    config: Config
    store: Store
    credentials: tuple[str, str] | None
    tls: ssl.SSLContext | None
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    fatal: str | None = None

    @property
    def smtp(self) -> Smtp:
        return self.config.settings.smtp


class _Connection:
    """One SMTP session, opened on first use and reused for up to messages_per_connection."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.client: aiosmtplib.SMTP | None = None
        self.used = 0

    async def get(self) -> aiosmtplib.SMTP:
        smtp = self.run.smtp
        if self.client is not None and (
            self.used >= smtp.messages_per_connection or not self.client.is_connected
        ):
            await self.close()
        if self.client is None:
            client = aiosmtplib.SMTP(
                hostname=smtp.host,
                port=smtp.port,
                use_tls=smtp.security == "tls",
                start_tls=smtp.security == "starttls",  # required when chosen, never silent
                tls_context=self.run.tls,
                timeout=smtp.timeout_seconds,
            )
            self.client, self.used = client, 0  # held first, so a failed login closes it
            await client.connect()
            if self.run.credentials:
                await client.login(*self.run.credentials)
            if client.is_ehlo_or_helo_needed:  # greet now, to know the relay's extensions
                await _greet(client)
        return self.client

    async def close(self) -> None:
        """Say goodbye politely; a connection already gone is simply dropped."""
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        if client is not None:
            client.close()

    def drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO for a relay too old for EHLO (as aiosmtplib's sendmail would)."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        await client.helo()


def credentials_from_env(smtp: Smtp) -> tuple[str, str] | None:
    """The login from the environment; None (no AUTH) unless both variables are set."""
    user, password = os.environ.get(smtp.username_env), os.environ.get(smtp.password_env)
    if user and password:
        return user, password
    if user or password:
        log.warning(
            "SMTP login needs both %s and %s; only one is set, sending without login",
            smtp.username_env,
            smtp.password_env,
        )
    return None


def tls_context(smtp: Smtp) -> ssl.SSLContext | None:
    if smtp.security == "none":
        return None
    try:
        return ssl.create_default_context(cafile=smtp.ca_file)
    except (OSError, ssl.SSLError) as exc:  # removed or changed since the configuration was read
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DeliveryError(
            f"smtp.ca_file {smtp.ca_file}: cannot be used: {reason}",
            hint="a PEM bundle, relative to briefing.yaml or an absolute path",
        ) from exc


def send_all(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    """Send over SMTP, each message at most once across runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(send_async(digests, config, store))
    # Called from async code (a scheduler's loop): run on a loop of our own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, send_async(digests, config, store)).result()


async def send_async(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    smtp = config.settings.smtp
    run = _Run(config, store, credentials_from_env(smtp), tls_context(smtp))
    run.failed += held_back(digests, store)
    held = {who for who, _ in run.failed}
    queue: asyncio.Queue[Digest] = asyncio.Queue()
    for digest in digests:
        if digest.subscriber not in held:
            queue.put_nowait(digest)
    workers = min(smtp.concurrency, queue.qsize())
    await asyncio.gather(*(_worker(queue, run) for _ in range(workers)))
    return DeliveryReport(
        sent=tuple(run.sent), skipped=tuple(run.skipped), failed=tuple(run.failed)
    )


# A mailbox that refused the last HOLD_AFTER editions for good (550 no such mailbox) is not
# written to again for RETRY_REFUSED_AFTER: relays judge a sender by how often it writes to
# addresses that do not exist. Then it is tried once more; a corrected address in
# subscribers.yaml is a new subscriber, sent to at once.
HOLD_AFTER = 3
RETRY_REFUSED_AFTER = timedelta(days=14)


def held_back(digests: list[Digest], store: Store) -> list[tuple[str, str]]:
    """(subscriber, why) for each digest not to send, its mailbox refused for good."""
    if not digests:
        return []
    refused = store.refused_for_good(
        digests[0].edition_id, utcnow() - RETRY_REFUSED_AFTER, HOLD_AFTER
    )
    held = []
    for digest in digests:
        if digest.subscriber in refused:
            error, when = refused[digest.subscriber]
            retry = (when + RETRY_REFUSED_AFTER).date().isoformat()
            why = (
                f"held back: its last {HOLD_AFTER} editions were refused for good ({error}); "
                f"tried again from {retry}, or at once under a corrected address in "
                "subscribers.yaml"
            )
            log.warning("delivery to %s %s", digest.subscriber, why)
            held.append((digest.subscriber, why))
    return held


async def _worker(queue: asyncio.Queue[Digest], run: _Run) -> None:
    connection = _Connection(run)
    try:
        while not queue.empty():
            digest = queue.get_nowait()
            if run.fatal:  # not reserved, so the next run sends it
                run.failed.append((digest.subscriber, run.fatal))
                continue
            await _send_one(digest, connection, run)
    finally:
        await connection.close()


async def _send_one(digest: Digest, connection: _Connection, run: _Run) -> None:
    smtp = run.smtp
    sender = run.config.settings.email.sender
    envelope = run.config.settings.email.bounce_address or sender  # where bounces go
    stale = timedelta(minutes=smtp.stale_after_minutes)
    if not run.store.reserve_delivery(
        digest.edition_id,
        digest.subscriber,
        message_id(digest, sender.rsplit("@", 1)[1]),
        stale_after=stale,
    ):
        run.skipped.append(digest.subscriber)
        return
    reason, connecting = "", False
    for attempt in range(smtp.retries + 1):
        connecting = True
        try:
            client = await _connect(connection)
            connecting = False
            await _transaction(client, envelope, digest, run.config)
            connection.used += 1
        except _Fatal as exc:
            run.fatal = str(exc)
            _finish(run, digest, run.fatal)
            return
        except (DeliveryError, ValueError) as exc:  # this message cannot be sent (its address)
            _finish(run, digest, str(exc), permanent=True)
            return
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason, verdict = _classify(exc)
            if verdict == "fatal":
                run.fatal = reason
                _finish(run, digest, reason)
                return
            if verdict == "permanent":
                _finish(run, digest, reason, permanent=True)
                return
            if verdict == "reconnect":
                connection.drop()  # a retry opens a new session
        else:
            _finish(run, digest, None)
            return
        if attempt < smtp.retries:
            delay = smtp.backoff_seconds * 2**attempt * random.uniform(0.5, 1.0)
            log.info("to %s: %s; retrying in %.2fs", digest.subscriber, reason, delay)
            await asyncio.sleep(delay)
    if connecting:  # the relay itself is unreachable: the rest would only wait and fail
        run.fatal = f"SMTP relay unreachable: {reason}"
    _finish(run, digest, f"{reason} (after {smtp.retries + 1} attempts)")


async def _transaction(
    client: aiosmtplib.SMTP, envelope: str, digest: Digest, config: Config
) -> None:
    """MAIL, RCPT and DATA for one message: aiosmtplib's sendmail, less its extra pass over
    the whole message to measure it (our line ends are CRLF already: the size is the length).
    The message is built for this session: 8bit parts only if the relay announced 8BITMIME."""
    eight_bit = client.supports_extension("8bitmime")
    payload = message_bytes(digest, config, eight_bit=eight_bit)
    options = [f"SIZE={len(payload)}"] if client.supports_extension("size") else []
    options += ["BODY=8BITMIME"] if eight_bit else []
    try:
        await client.mail(envelope, options=options)
        await client.rcpt(digest.subscriber)
        await client.data(payload)
    except (aiosmtplib.SMTPResponseException, ValueError):  # ValueError: an unsendable address
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.rset()  # the session stays usable for a retry or the next message
        raise


def _classify(exc: BaseException) -> tuple[str, str]:
    """(reason, verdict): permanent (5xx for this recipient), fatal (the run cannot go on),
    retry (4xx, the session is still good) or reconnect (the session is gone)."""
    if isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code >= 500:
        return f"sender refused: {exc.code} {exc.message}", "fatal"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}", "permanent" if exc.code >= 500 else "retry"
    return f"{exc.__class__.__name__}: {exc}", "reconnect"


_CONNECTION_TROUBLE = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
    OSError,
    TimeoutError,
)


async def _connect(connection: _Connection) -> aiosmtplib.SMTP:
    """A ready session. Refusals that no retry can cure (bad login, untrusted certificate,
    STARTTLS or AUTH not offered, 5xx greeting) become _Fatal; the rest is retried."""
    try:
        return await connection.get()
    except aiosmtplib.SMTPAuthenticationError as exc:
        connection.drop()
        raise _Fatal(f"SMTP login refused: {exc.code} {exc.message}") from exc
    # Before connection trouble: a refusing greeting (SMTPConnectResponseError) is also a
    # connection error, and would otherwise reach _classify as a 5xx for this recipient.
    except aiosmtplib.SMTPResponseException as exc:
        connection.drop()
        if exc.code >= 500:
            raise _Fatal(f"SMTP session refused: {exc.code} {exc.message}") from exc
        raise
    except _CONNECTION_TROUBLE as exc:
        connection.drop()
        cause = exc if isinstance(exc, ssl.SSLCertVerificationError) else exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise _Fatal(f"SMTP certificate not trusted: {cause.verify_message}") from exc
        raise
    except aiosmtplib.SMTPException as exc:
        connection.drop()
        raise _Fatal(f"SMTP session refused: {exc}") from exc
    except BaseException:
        connection.drop()
        raise


def _finish(run: _Run, digest: Digest, error: str | None, *, permanent: bool = False) -> None:
    run.store.complete_delivery(
        digest.edition_id, digest.subscriber, error=error, permanent=permanent
    )
    if error is None:
        run.sent.append(digest.subscriber)
        return
    log.error("delivery to %s failed: %s", digest.subscriber, error)
    run.failed.append((digest.subscriber, error + (" (permanent)" if permanent else "")))


def deliver(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    """SMTP when a host is configured, else the outbox folder; never to an address that
    unsubscribed (the unsubscribe page, or `briefing unsubscribe`)."""
    gone = store.unsubscribed(d.subscriber for d in digests)
    left = [d for d in digests if d.subscriber.lower() not in gone]
    if config.settings.smtp.host:
        report = send_all(left, config, store)
    else:
        report = write_outbox(left, config, store)
    notes = []
    for digest in digests:
        if digest.subscriber.lower() in gone:
            when, via = gone[digest.subscriber.lower()]
            why = f"unsubscribed on {when.date().isoformat()} ({via}): not sent; "
            notes.append((digest.subscriber, why + "remove the address from subscribers.yaml"))
    return replace(report, unsubscribed=tuple(notes))
