"""The unsubscribe page: what an unsubscribe link opens, and the record it leaves.

Mail clients with a one-click unsubscribe button (RFC 8058: Gmail, Yahoo, Apple Mail) POST
`List-Unsubscribe=One-Click` to the link in the `List-Unsubscribe` header: the address is
recorded in the store at once, and no later delivery writes to it. A reader who follows the
link in the digest gets a page asking to confirm: a GET never unsubscribes, because link
scanners and preview panes open every link in a message. Every request must carry the
address's token (an HMAC under a secret only the sender knows), so nobody can unsubscribe
someone else by writing their address into the URL.

The page is a WSGI application (`UnsubscribePage`), served by `briefing unsubscribe-server`
behind the operator's HTTPS proxy, or by any WSGI server.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sqlalchemy.exc import SQLAlchemyError

from briefing.config import Config, EmailSettings
from briefing.digest.render import (
    TEMPLATES_DIR,
    edition_date,
    environment,
    load_strings,
    templates_dir,
    unsubscribe_token,
)
from briefing.errors import ConfigError
from briefing.store import Store

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

PAGE_TEMPLATE = "unsubscribe.html.j2"
# The query the page reads its link from: unsubscribe_url must carry both.
LINK_QUERY = "email={email}&token={token}"
# A one-click POST carries 26 bytes; a browser's confirmation form fewer.
_MAX_BODY = 4096
_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),  # the page shows an address
    ("Referrer-Policy", "no-referrer"),  # the URL holds the token
    ("X-Robots-Tag", "noindex"),
    # No scripts, nothing from elsewhere; the form may post only back here.
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    ),
]


def link_problem(email: EmailSettings) -> str | None:
    """Why this page cannot check the configured unsubscribe links, or None when it can."""
    url = email.unsubscribe_url
    if not url:
        return (
            "email.unsubscribe_url is not set: the digests carry no link to this page; set "
            f"it to https://YOUR-HOST/unsubscribe?{LINK_QUERY}"
        )
    query = parse_qs(urlsplit(url).query)
    if query.get("email") != ["{email}"] or query.get("token") != ["{token}"]:
        return (
            f"email.unsubscribe_url {url!r}: the unsubscribe page reads the link's "
            f"`?{LINK_QUERY}`; end the URL with it"
        )
    if not os.environ.get(email.unsubscribe_secret_env):
        return f"${email.unsubscribe_secret_env} is not set: the page cannot check tokens"
    return None


class UnsubscribePage:
    """The WSGI application. GET shows the confirmation (or that it is done); POST with a
    valid token unsubscribes; /healthz answers whether the store can be read."""

    def __init__(self, config: Config, store: Store) -> None:
        problem = link_problem(config.settings.email)
        if problem:
            raise ConfigError([problem])
        self.secret = os.environ[config.settings.email.unsubscribe_secret_env]
        self.store = store
        self.languages = {s.email.lower(): s.language for s in config.subscribers}
        self.zone = config.zone
        self.folder = templates_dir(config)
        if not (self.folder / PAGE_TEMPLATE).is_file():  # custom digest templates only
            self.folder = TEMPLATES_DIR

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO") == "/healthz":
            return self._health(start_response)
        if method not in ("GET", "POST"):
            start_response("405 Method Not Allowed", [("Allow", "GET, POST"), *_HEADERS])
            return [b""]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        address = (query.get("email") or [""])[0].strip()
        token = (query.get("token") or [""])[0]
        body = _read_body(environ) if method == "POST" else b""
        language = self.languages.get(address.lower(), "ar")
        if not (address and self._valid(address, token)):
            return self._page(start_response, "400 Bad Request", "invalid", language, address)
        try:
            if method == "POST":
                # RFC 8058's body, urlencoded or as a multipart field (List-Unsubscribe: One-Click).
                via = "one-click" if b"One-Click" in body else "page"
                when, first = self.store.unsubscribe(address, via)
                if first:
                    log.info("unsubscribed %s (%s)", address, via)
                return self._page(start_response, "200 OK", "done", language, address, when)
            done = self.store.unsubscribed([address]).get(address.lower())
        except SQLAlchemyError as exc:
            log.error("unsubscribe of %s not recorded: %s", address, exc.__class__.__name__)
            # 503: a mail client's one-click POST is tried again later.
            return self._page(start_response, "503 Service Unavailable", "busy", language, address)
        if done:
            return self._page(start_response, "200 OK", "done", language, address, done[0])
        return self._page(start_response, "200 OK", "confirm", language, address)

    def _valid(self, address: str, token: str) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged token).
        expected = unsubscribe_token(address, self.secret)
        return hmac.compare_digest(expected.encode(), token.encode())

    def _page(
        self,
        start_response: StartResponse,
        status: str,
        state: str,
        language: str,
        address: str,
        since: datetime | None = None,
    ) -> list[bytes]:
        # An editor's strings.yaml from before the page existed has no unsubscribe_page:
        # the stock wording stands in.
        mine, stock = load_strings(self.folder).get(language, {}), load_strings()[language]
        words = mine.get("unsubscribe_page") or stock["unsubscribe_page"]
        day = edition_date(since.astimezone(self.zone).date(), language) if since else None
        page = (
            environment(self.folder)
            .get_template(PAGE_TEMPLATE)
            .render(
                state=state,
                t=words,
                lang=language,
                ui_dir="rtl" if language == "ar" else "ltr",
                address=address,
                since=day.gregorian if day else "",
            )
        )
        start_response(status, list(_HEADERS))
        return [page.encode("utf-8")]

    def _health(self, start_response: StartResponse) -> list[bytes]:
        try:
            self.store.count("unsubscribes")
        except SQLAlchemyError as exc:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [f"store unavailable: {exc.__class__.__name__}\n".encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return bytes(environ["wsgi.input"].read(min(max(length, 0), _MAX_BODY)))


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck client does not hold up a shutdown


class _Handler(WSGIRequestHandler):
    """wsgiref's handler, logging through `logging` and never the query: it holds the
    reader's address and token."""

    # A client that opens a connection and sends nothing (or trickles) would hold its
    # thread for ever: its socket times out instead.
    timeout = 30

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("unsubscribe page: %s", format % args)


def make_page_server(config: Config, store: Store, host: str, port: int) -> WSGIServer:
    """The page's HTTP server, bound and ready for serve_forever() (port 0: any free one)."""
    return make_server(
        host,
        port,
        UnsubscribePage(config, store),
        server_class=_ThreadingServer,
        handler_class=_Handler,
    )
