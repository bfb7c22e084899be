"""A real local HTTP server (port 0) for feeds and article pages, with real conditional GET.

Routes are registered per path: a document (ETag / Last-Modified / 304, optional gzip), a
redirect, an error status with headers (Retry-After), a handler that never answers, a huge
body, a body sent as given with a Content-Encoding of the test's choice (a compression bomb).
Every request is recorded with its headers, so tests can see what the client sent.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import yaml

from briefing.config import Config, load_config


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog (5) refuses a burst of concurrent clients
    daemon_threads = True


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None  # an HTTP date
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer
    stream_bytes: int = 0  # send this many bytes of filler, without Content-Length
    delay: float = 0.0  # seconds before answering (network latency)
    encoding: str | None = None  # send `body` as is, with this Content-Encoding


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


class InFlight:
    """Requests being answered right now across several servers (hosts), for limit tests.

    Each arrival is recorded with how many requests every host had in flight and how many it
    had received so far, at that moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.received: dict[str, int] = {}
        self.peak = 0  # the most in flight at once, all hosts together
        self.arrivals: list[tuple[str, dict[str, int], dict[str, int]]] = []

    def enter(self, host: str) -> None:
        with self._lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.received[host] = self.received.get(host, 0) + 1
            self.peak = max(self.peak, sum(self.now.values()))
            self.arrivals.append((host, dict(self.now), dict(self.received)))

    def leave(self, host: str) -> None:
        with self._lock:
            self.now[host] -= 1


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", in_flight: InFlight | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self.active = 0  # requests being answered right now
        self.max_active: dict[str, int] = {}  # the most answered at once, per Host header
        self._active_by_host: dict[str, int] = {}
        self.in_flight = in_flight
        self.httpd = _Server((host, 0), _handler_for(self))
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    # ---- routes -----------------------------------------------------------------------

    def document(self, path: str, body: bytes, **options: object) -> str:
        """Serve `body` with an ETag and Last-Modified unless given; returns its URL."""
        options.setdefault("etag", f'"{abs(hash(body)):x}"')
        options.setdefault("last_modified", formatdate(1_522_540_800, usegmt=True))
        self.routes[path] = Route(body=body, **options)  # type: ignore[arg-type]
        return self.url(path)

    def documents(self, bodies: dict[str, bytes], **options: object) -> None:
        """Serve many documents alike, e.g. every feed of a site with the same latency."""
        for path, body in bodies.items():
            self.document(path, body, **options)

    def redirect(self, path: str, to: str, status: int = 301) -> str:
        self.routes[path] = Route(status=status, headers={"Location": to})
        return self.url(path)

    def status(self, path: str, status: int, **headers: str) -> str:
        self.routes[path] = Route(status=status, body=b"error", headers=headers)
        return self.url(path)

    def encoded(
        self, path: str, body: bytes, encoding: str, *, status: int = 200, location: str = ""
    ) -> str:
        """Serve `body` (compressed by the test) as is, with `Content-Encoding: encoding`;
        with `location`, as the body of a redirect there."""
        headers = {"Location": location} if location else {}
        self.routes[path] = Route(status=status, body=body, encoding=encoding, headers=headers)
        return self.url(path)

    def hang(self, path: str) -> str:
        self.routes[path] = Route(hang=True)
        return self.url(path)

    def huge(self, path: str, size: int) -> str:
        self.routes[path] = Route(stream_bytes=size)
        return self.url(path)

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def enter(self, host: str) -> None:
        with self._lock:
            self.active += 1
            self._active_by_host[host] = self._active_by_host.get(host, 0) + 1
            self.max_active[host] = max(self.max_active.get(host, 0), self._active_by_host[host])
        if self.in_flight is not None:
            self.in_flight.enter(self.host)

    def leave(self, host: str) -> None:
        with self._lock:
            self.active -= 1
            self._active_by_host[host] -= 1
        if self.in_flight is not None:
            self.in_flight.leave(self.host)


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.record(Request(self.path, headers))
            host = headers.get("host", "")
            server.enter(host)
            try:
                self._answer(headers)
            finally:
                server.leave(host)

        def _answer(self, headers: dict[str, str]) -> None:
            route = server.routes.get(self.path, Route(status=404, body=b"not found"))
            if route.delay:
                time.sleep(route.delay)
            if route.hang:
                server.closing.wait(30)
                return
            if route.stream_bytes:
                self._stream(route.stream_bytes)
                return
            if route.status == 200 and _not_modified(route, headers):
                self.send_response(304)
                self._validators(route)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = route.body
            encoding = route.encoding
            accepts_gzip = "gzip" in headers.get("accept-encoding", "")
            if encoding is None and accepts_gzip and len(body) > 512:
                body, encoding = gzip.compress(body), "gzip"
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if encoding:
                self.send_header("Content-Encoding", encoding)
            if route.status == 200:
                self._validators(route)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _validators(self, route: Route) -> None:
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)

        def _stream(self, size: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"<!-- filler -->" * 4096
            sent = 0
            try:
                while sent < size:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the client hung up at its size cap, as it should
            self.close_connection = True

    return Handler


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    if "if-none-match" in headers:
        return route.etag is not None and headers["if-none-match"] == route.etag
    since, modified = headers.get("if-modified-since"), route.last_modified
    if since and modified:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def write_config(folder: Path, feeds: list[dict], **ingest: object) -> Config:
    """A briefing.yaml and feeds.yaml in `folder` (database inside it), loaded and validated."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "database": str(folder / "briefing.db"),
        "outbox": str(folder / "outbox"),
        "sections": {"news": "أخبار"},
        "ingest": {"timeout_seconds": 2, "connect_timeout_seconds": 2, **ingest},
    }
    (folder / "briefing.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    (folder / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": feeds}, allow_unicode=True), "utf-8"
    )
    (folder / "subscribers.yaml").write_text("subscribers: []\n", "utf-8")
    return load_config(folder / "briefing.yaml")
