"""Delivery: MIME messages, sent once each over SMTP, or written to an outbox folder.

Exactly once lives in the store: a delivery row (edition, subscriber) is reserved before a
message is sent and completed after, so a crashed run re-started sends only what is left and
two runs at once never both send.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib

from briefing.config import Config
from briefing.models import Digest
from briefing.store import Store, utcnow

log = logging.getLogger(__name__)

_STALE_RESERVATION = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # sent before, or being sent by another run
    failed: tuple[tuple[str, str], ...] = ()  # (recipient, reason)
    outbox: Path | None = None


def message_id(digest: Digest, domain: str) -> str:
    """Stable per subscriber and edition, so a resend is recognisably the same message."""
    key = hashlib.sha256(f"{digest.edition_id}\0{digest.subscriber}".encode()).hexdigest()[:24]
    return f"<briefing.{digest.edition_id}.{key}@{domain}>"


def build_message(digest: Digest, config: Config) -> EmailMessage:
    email = config.settings.email
    domain = email.sender.rsplit("@", 1)[1]
    msg = EmailMessage()
    msg["From"] = Address(display_name=email.sender_name, addr_spec=email.sender)
    msg["To"] = digest.subscriber
    msg["Subject"] = digest.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id(digest, domain)
    unsubscribe = [f"<{u}>" for u in (email.unsubscribe_mailto, email.unsubscribe_url) if u]
    if unsubscribe:
        msg["List-Unsubscribe"] = ", ".join(unsubscribe)
        if email.unsubscribe_url:
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(digest.text, charset="utf-8")
    if digest.html is not None:
        msg.add_alternative(digest.html, subtype="html", charset="utf-8")
    return msg


def write_outbox(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    """Write each digest as an .eml file plus an index.html preview of the edition."""
    if not digests:
        return DeliveryReport()
    folder = config.outbox_dir / digests[0].edition_id
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for digest in digests:
        msg = build_message(digest, config)
        name = _safe_name(digest.subscriber)
        (folder / f"{name}.eml").write_bytes(bytes(msg))
        (folder / f"{name}.html").write_text(digest.html or _text_as_html(digest.text), "utf-8")
        written.append(digest.subscriber)
    _write_index(folder, digests)
    return DeliveryReport(sent=tuple(written), outbox=folder)


def _safe_name(address: str) -> str:
    return "".join(c if c.isalnum() or c in "@._-" else "_" for c in address)


def _text_as_html(text: str) -> str:
    body = html.escape(text)
    return (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><meta charset="utf-8">'
        f'<pre dir="auto">{body}</pre></html>'
    )


def _write_index(folder: Path, digests: list[Digest]) -> None:
    rows = "\n".join(
        f'<li><a href="{html.escape(_safe_name(d.subscriber))}.html">'
        f"{html.escape(d.subscriber)}</a> — {html.escape(d.subject)} ({len(d.story_ids)})</li>"
        for d in digests
    )
    page = (
        '<!DOCTYPE html>\n<html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{html.escape(digests[0].edition_id)}</title></head>"
        '<body style="direction: rtl; text-align: right; font-family: Tahoma, sans-serif;">'
        f"<h1>{html.escape(digests[0].edition_id)}</h1><ul>\n{rows}\n</ul></body></html>\n"
    )
    (folder / "index.html").write_text(page, "utf-8")


def send_all(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    """Send over SMTP, each message at most once across runs."""
    return asyncio.run(_send_all(digests, config, store))


async def _send_all(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    smtp = config.settings.smtp
    sent: list[str] = []
    skipped: list[str] = []
    failed: list[tuple[str, str]] = []
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        timeout=smtp.timeout_seconds,
    )
    connected = False
    for digest in digests:
        msg = build_message(digest, config)
        if not store.reserve_delivery(
            digest.edition_id, digest.subscriber, msg["Message-ID"], stale_after=_STALE_RESERVATION
        ):
            skipped.append(digest.subscriber)
            continue
        try:
            if not connected:
                await client.connect()
                user, password = (
                    os.environ.get(smtp.username_env),
                    os.environ.get(smtp.password_env),
                )
                if user and password:
                    await client.login(user, password)
                connected = True
            await client.send_message(msg)
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = f"{exc.__class__.__name__}: {exc}"
            log.error("delivery to %s failed: %s", digest.subscriber, reason)
            store.complete_delivery(digest.edition_id, digest.subscriber, error=reason)
            failed.append((digest.subscriber, reason))
            continue
        store.complete_delivery(digest.edition_id, digest.subscriber)
        sent.append(digest.subscriber)
    if connected:
        with contextlib.suppress(aiosmtplib.SMTPException):
            await client.quit()
    return DeliveryReport(sent=tuple(sent), skipped=tuple(skipped), failed=tuple(failed))


def deliver(digests: list[Digest], config: Config, store: Store) -> DeliveryReport:
    if config.settings.smtp.host:
        return send_all(digests, config, store)
    return write_outbox(digests, config, store)
