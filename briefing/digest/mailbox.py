"""The mailbox that bounces and unsubscribe mails arrive in, read over IMAP.

A relay that accepted a digest may learn only later that the mailbox does not exist, and
says so in a delivery status notification (DSN, RFC 3464) to the sender. A mail client's
"unsubscribe" button, where the digest offers `mailto:`, sends a mail. Both land in a
mailbox; `read_mailbox` acts on them, as Gmail and Yahoo expect of bulk senders:
- a DSN whose recipient failed for good (Action: failed, Status 5.x.x) makes that
  delivery refused for good, as a 5xx at RCPT would have, so that the address is held back
  after HOLD_AFTER editions (docs/email.md);
- a mail to the `email.unsubscribe_mailto` address unsubscribes its sender, or the address
  its subject names with a valid token, when that is a subscriber;
- a spam complaint a mailbox provider forwards (a feedback loop report, RFC 5965: Yahoo,
  Microsoft and others) unsubscribes the reader who marked a digest as spam, found by the
  digest's Message-ID (providers often blank the address itself).
Mails acted on are moved to `mailbox.processed_folder`. Everything else (replies, delay
notices, bounces in no standard form, requests from unknown addresses) stays in the folder
for a person to read.
"""

from __future__ import annotations

import contextlib
import email
import hmac
import imaplib
import logging
import os
import re
import ssl
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from briefing.config import Config, EmailSettings, Mailbox
from briefing.digest.render import unsubscribe_token
from briefing.errors import BriefingError
from briefing.store import Store

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+\.[A-Za-z0-9-]+")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


class MailboxError(BriefingError):
    """The mailbox cannot be read: the server, the login or a folder."""


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient a DSN says failed for good."""

    recipient: str  # Final-Recipient (or Original-Recipient)
    message_id: str | None  # the Message-ID of the digest, when the DSN returns its headers
    status: str  # 5.1.1
    diagnostic: str  # the remote server's words, or the status alone

    @property
    def error(self) -> str:
        return f"bounced: {self.diagnostic}"


@dataclass(frozen=True, slots=True)
class Complaint:
    """A reader marked a digest as spam (an ARF report)."""

    message_id: str | None  # of the digest, from the returned message or headers
    recipient: str | None  # Original-Rcpt-To, when the provider did not blank it


@dataclass(frozen=True, slots=True)
class MailboxReport:
    unsubscribed: tuple[str, ...] = ()  # by their unsubscribe mail
    complained: tuple[str, ...] = ()  # unsubscribed after marking a digest as spam
    bounced: tuple[tuple[str, str], ...] = ()  # (subscriber, error)
    left: int = 0  # mails that looked like bounces or unsubscribe requests, left for a person
    error: str | None = None  # the mailbox could not be read (nothing else is then true)

    def lines(self) -> list[str]:
        if self.error:
            return [f"mailbox: not read: {self.error}"]
        lines = [
            f"mailbox: {len(self.unsubscribed)} unsubscribed, {len(self.complained)} spam "
            f"complaints, {len(self.bounced)} bounced, {self.left} left for a person"
        ]
        lines += [f"  unsubscribed by mail: {who}" for who in self.unsubscribed]
        lines += [f"  unsubscribed after a spam complaint: {who}" for who in self.complained]
        lines += [f"  recipient {who}: {error}" for who, error in self.bounced]
        return lines


# ---- what a mail says ------------------------------------------------------------------


def bounces_of(message: Message) -> list[Bounce]:
    """The recipients a DSN reports as failed for good; [] for any other mail (delay
    notices and successes included)."""
    if message.get_content_type() != "multipart/report":
        return []
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return []
    parts = list(message.walk())
    status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    blocks = status.get_payload() if status is not None else None
    if not isinstance(blocks, list):
        return []
    message_id = _returned_message_id(parts)
    found = []
    for block in blocks[1:]:  # the first block is about the message, then one per recipient
        if not isinstance(block, Message):
            continue
        action = str(block.get("Action", "")).strip().lower()
        code = str(block.get("Status", "")).strip()
        recipient = _typed_address(block.get("Final-Recipient") or block.get("Original-Recipient"))
        if action == "failed" and code.startswith("5") and recipient:
            words = " ".join(str(block.get("Diagnostic-Code", "")).split())
            diagnostic = words.split(";", 1)[-1].strip() if words else ""
            found.append(Bounce(recipient, message_id, code, diagnostic or code))
    return found


def complaint_of(message: Message) -> Complaint | None:
    """The spam complaint an ARF report (RFC 5965) carries; None for any other mail."""
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "")).lower() != "feedback-report":
        return None
    parts = list(message.walk())
    report = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
    payload = report.get_payload() if report is not None else None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        fields = payload[0]
    else:
        fields = email.message_from_string(payload if isinstance(payload, str) else "")
    return Complaint(_returned_message_id(parts), _typed_address(fields.get("Original-Rcpt-To")))


def _typed_address(field: object) -> str | None:
    """'rfc822; reader@example.org' or '<reader@example.org>' -> 'reader@example.org'."""
    if not field:
        return None
    value = str(field).split(";", 1)[-1].strip().strip("<>")
    return value if "@" in value else None


def _returned_message_id(parts: list[Message]) -> str | None:
    """The Message-ID of the mail that bounced, from the headers the DSN returns."""
    for part in parts:
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            returned = email.message_from_string(text)
        elif kind == "message/rfc822":
            inner = part.get_payload()
            if not (isinstance(inner, list) and inner and isinstance(inner[0], Message)):
                continue
            returned = inner[0]
        else:
            continue
        found = str(returned.get("Message-ID", "")).strip()
        if found:
            return found
    return None


def unsubscribe_request(message: Message, settings: EmailSettings) -> str | None:
    """Who a mail to the unsubscribe address asks to unsubscribe: the address its subject
    names with that address's valid token, else its sender. None for any other mail, and
    for automatic replies (RFC 3834), which never ask for anything."""
    target = unsubscribe_address(settings)
    if target is None:
        return None
    recipients = getaddresses([str(v) for h in _RECIPIENT_HEADERS for v in message.get_all(h, [])])
    if not any(address.lower() == target for _, address in recipients):
        return None
    if str(message.get("Auto-Submitted", "no")).strip().lower() != "no":
        return None
    subject = _subject(message)
    secret = os.environ.get(settings.unsubscribe_secret_env)
    if secret:
        tokens = set(_TOKEN.findall(subject))
        for named in _ADDRESS.findall(subject):
            if any(hmac.compare_digest(unsubscribe_token(named, secret), t) for t in tokens):
                return named
    sender = parseaddr(str(message.get("From", "")))[1]
    return sender or None


def _subject(message: Message) -> str:
    """The Subject, encoded words decoded; as it came when they cannot be (a charset Python
    does not know, bytes that are not that charset): a strange subject never stops a read."""
    raw = str(message.get("Subject", ""))
    try:
        return str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError):
        return raw


def unsubscribe_address(settings: EmailSettings) -> str | None:
    """The mailbox part of `unsubscribe_mailto` (mailto:unsubscribe@example.org?subject=...),
    lowercased; None when there is none or it is personalized ({email} in the address)."""
    link = settings.unsubscribe_mailto
    if not link:
        return None
    address = link.removeprefix("mailto:").split("?", 1)[0].strip().lower()
    return None if "{" in address or "@" not in address else address


# ---- reading the mailbox ---------------------------------------------------------------


def read_mailbox(config: Config, store: Store) -> MailboxReport | None:
    """Act on the bounces, complaints and unsubscribe mails waiting in the mailbox and move
    them to the processed folder; None when no mailbox is configured. A mailbox that cannot
    be read gives a report with its error: the edition still goes out."""
    box = config.settings.mailbox
    if not box.host:
        return None
    try:
        return _read(config, store, box)
    except MailboxError as exc:
        log.error("mailbox %s not read: %s", box.host, exc)
        return MailboxReport(error=str(exc))


def _read(config: Config, store: Store, box: Mailbox) -> MailboxReport:
    subscribers = {s.email.lower(): s.email for s in config.subscribers}
    unsubscribed: list[str] = []
    complained: list[str] = []
    bounced: list[tuple[str, str]] = []
    handled: list[bytes] = []
    left = 0
    with _Session(box) as client:
        for uid, raw in _messages(client, box, config.settings.email):
            message = email.message_from_bytes(raw)
            acted = False
            for bounce in bounces_of(message):
                who = store.record_bounce(bounce.recipient, bounce.message_id, bounce.error)
                acted = True  # a bounce of no known delivery (or one already counted) is done
                if who:
                    log.warning("recipient %s: %s", who, bounce.error)
                    bounced.append((who, bounce.error))
            complaint = None if acted else complaint_of(message)
            if complaint is not None:
                who = _complainant(complaint, store, subscribers)
                acted = True  # a complaint about no digest of ours: nothing to do
                if who:
                    log.warning("recipient %s marked a digest as spam: unsubscribed", who)
                    if store.unsubscribe(who, "complaint")[1]:
                        complained.append(who)
            requester = None if acted else unsubscribe_request(message, config.settings.email)
            if requester and requester.lower() in subscribers:
                _, first = store.unsubscribe(requester, "mail")
                if first:
                    unsubscribed.append(subscribers[requester.lower()])
                acted = True
            elif requester:
                log.warning(
                    "unsubscribe mail from %s, who is no subscriber: left in %s",
                    requester,
                    box.folder,
                )
            if acted:
                handled.append(uid)
            else:
                left += 1
        _move(client, handled, box.processed_folder)
    return MailboxReport(tuple(unsubscribed), tuple(complained), tuple(bounced), left)


def _complainant(complaint: Complaint, store: Store, subscribers: dict[str, str]) -> str | None:
    """The subscriber a complaint is about: the one its digest was sent to, else the
    recipient it names, when that is a subscriber."""
    if complaint.message_id:
        found = store.subscriber_of_message(complaint.message_id)
        if found:
            return found
    named = (complaint.recipient or "").lower()
    return subscribers.get(named)


class _Session:
    """An IMAP connection, logged in, with `folder` selected; logged out on leaving."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box
        self.client: imaplib.IMAP4 | None = None

    def __enter__(self) -> imaplib.IMAP4:
        box = self.box
        user, password = os.environ.get(box.username_env), os.environ.get(box.password_env)
        if not (user and password):
            raise MailboxError(f"set ${box.username_env} and ${box.password_env}")
        try:
            context = ssl.create_default_context(cafile=box.ca_file)
            if box.security == "tls":
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    box.host or "", box.port, ssl_context=context, timeout=box.timeout_seconds
                )
            else:
                client = imaplib.IMAP4(box.host or "", box.port, timeout=box.timeout_seconds)
            self.client = client
            if box.security == "starttls":
                client.starttls(ssl_context=context)
            client.login(user, password)
            status, detail = client.select(_quoted(box.folder))
        except imaplib.IMAP4.error as exc:
            self.__exit__()
            raise MailboxError(f"{box.host}:{box.port}: {_said(exc)}") from exc
        except OSError as exc:  # refused, timed out, or TLS failed
            self.__exit__()
            raise MailboxError(f"cannot reach {box.host}:{box.port}: {exc}") from exc
        if status != "OK":
            self.__exit__()
            raise MailboxError(f"folder {box.folder!r}: {_said(detail)}")
        return client

    def __exit__(self, *exc: object) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()


def _messages(
    client: imaplib.IMAP4, box: Mailbox, settings: EmailSettings
) -> list[tuple[bytes, bytes]]:
    """(uid, raw message) of the mails in the selected folder that may be bounces or
    unsubscribe requests, left unread (PEEK). The server picks them (SEARCH), so a mailbox
    that also gets readers' replies is not downloaded at every run; they come in batches."""
    try:
        uids = _search(client, _candidates(settings))
        if uids is None:  # a server that cannot search by header: every mail is looked at
            uids = _search(client, "ALL")
        if uids is None:
            raise MailboxError(f"folder {box.folder!r} cannot be searched")
        messages = []
        for start in range(0, len(uids), _FETCH_BATCH):
            which = b",".join(uids[start : start + _FETCH_BATCH]).decode()
            status, data = client.uid("FETCH", which, "(UID BODY.PEEK[])")
            if status != "OK":
                raise MailboxError(f"folder {box.folder!r} cannot be read: {_said(data)}")
            for item in data:
                uid = _FETCHED_UID.search(item[0]) if isinstance(item, tuple) else None
                if uid and isinstance(item[1], bytes):
                    messages.append((uid.group(1), item[1]))
        return messages
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"folder {box.folder!r} cannot be read: {_said(exc)}") from exc


def _search(client: imaplib.IMAP4, criteria: str) -> list[bytes] | None:
    """The UIDs SEARCH finds; None when the server refuses the criteria (NO or BAD)."""
    try:
        status, found = client.uid("SEARCH", criteria)
    except imaplib.IMAP4.abort:
        raise  # the connection is gone: no second try on it
    except imaplib.IMAP4.error:  # BAD: criteria it does not support
        return None
    if status != "OK":
        return None
    return found[0].split() if found and found[0] else []


_FETCH_BATCH = 50
_FETCHED_UID = re.compile(rb"\bUID (\d+)")


def _candidates(settings: EmailSettings) -> str:
    """IMAP SEARCH keys for a DSN, a complaint, or a mail to the unsubscribe address (IMAP's
    OR takes two keys: nested)."""
    keys = ['HEADER Content-Type "delivery-status"', 'HEADER Content-Type "feedback-report"']
    target = unsubscribe_address(settings)
    if target:
        keys += [f"HEADER {header} {_quoted(target)}" for header in _RECIPIENT_HEADERS]
    criteria = keys[-1]
    for key in reversed(keys[:-1]):
        criteria = f"OR {key} {criteria}"
    return criteria


def _move(client: imaplib.IMAP4, uids: list[bytes], folder: str) -> None:
    """Move the mails to `folder` (created when missing): MOVE (RFC 6851) where the server
    has it, else copy, flag deleted and expunge those mails only (UIDPLUS)."""
    if not uids:
        return
    target, which = _quoted(folder), b",".join(uids).decode()
    try:
        client.create(target)  # NO when it exists already: fine
        if "MOVE" in client.capabilities:
            status, detail = client.uid("MOVE", which, target)
        else:
            status, detail = client.uid("COPY", which, target)
            if status == "OK":
                client.uid("STORE", which, "+FLAGS.SILENT", r"(\Deleted)")
                if "UIDPLUS" in client.capabilities:
                    client.uid("EXPUNGE", which)
                else:
                    client.expunge()
        if status != "OK":
            raise MailboxError(f"cannot move mails to {folder!r}: {_said(detail)}")
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"cannot move mails to {folder!r}: {_said(exc)}") from exc


def _quoted(name: str) -> str:
    """An IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _said(what: object) -> str:
    """A server's reply as text: imaplib gives bytes, lists of bytes or exceptions."""
    if isinstance(what, list):
        what = b" ".join(w for w in what if isinstance(w, bytes))
    if isinstance(what, bytes):
        return what.decode("utf-8", "replace")
    return str(what)
