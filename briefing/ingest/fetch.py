"""Fetching politely: limits per host and overall, conditional GET, timeouts, a size cap.

One `Fetcher` serves a whole run (feeds and article pages alike), so that the limits hold
across both. It never raises: every problem comes back as `FetchResult.error`, worded for an
operator reading `briefing feeds`.

Two defences against hostile servers (see docs/ingest.md, "Politeness and safety"):

- The body is read raw and decompressed here, a piece at a time, so that what is held never
  passes `max_bytes` however well a body compresses; one content-coding at most (gzip or
  deflate), and redirect bodies are never read.
- Article pages (item links: the feed's publisher chose them, not the editor) are fetched
  through a client whose connections go only to public addresses, checked on the address
  actually connected to (a name that resolves to a private address is refused, DNS rebinding
  included), unless `ingest.allow_private_pages` is true.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from briefing.config import Ingest

WEB_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
ACCEPTED_CODINGS = ("gzip", "x-gzip", "deflate")
_PRIVATE_HINT = "set ingest.allow_private_pages to allow it"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one request gave. `error` is set when nothing usable came back."""

    url: str  # the URL finally read (after redirects)
    status: int = 0
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    not_modified: bool = False
    permanent_url: str | None = None  # set when only 301/308 hops led to `url`
    retry_after: str | None = None  # a 429/503's Retry-After header, as sent
    gone: bool = False  # 410: the publisher says the feed is gone for good
    refused: bool = False  # not fetched: a page at a private address (allow_private_pages)


def resolve_file_url(url: str, base_dir: Path) -> Path:
    """`file:feeds/a.xml` is relative to the config folder; `file:///abs/a.xml` is absolute."""
    parts = urlsplit(url)
    path = Path(unquote(parts.path))
    return path if path.is_absolute() else base_dir / path


def read_file(url: str, base_dir: Path, max_bytes: int) -> FetchResult:
    path = resolve_file_url(url, base_dir)
    try:
        with path.open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except OSError as exc:
        return FetchResult(url=url, error=f"cannot read {path}: {exc.strerror}")
    if len(content) > max_bytes:
        return FetchResult(url=url, error=f"file larger than ingest.max_bytes ({max_bytes} bytes)")
    return FetchResult(url=url, status=200, content=content)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Fetcher:
    """httpx clients plus the run's limits: `concurrency` overall, `per_host` per host.

    Feeds go through `client`; article pages (`get(url, page=True)`) through `page_client`,
    which connects to public addresses only unless `allow_private_pages` is set.
    """

    def __init__(self, settings: Ingest, base_dir: Path, *, allow_files: bool = False) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.allow_files = allow_files
        self._all = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )
        self.client = make_client(settings)
        # A connection of its own for pages: a page must never ride on a connection the
        # feeds' client opened to an address that pages may not reach.
        self.page_client = (
            self.client if settings.allow_private_pages else make_client(settings, public_only=True)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.aclose()
        if self.page_client is not self.client:
            await self.page_client.aclose()

    def scheme_error(self, url: str) -> str | None:
        scheme = urlsplit(url).scheme.lower()
        if scheme in WEB_SCHEMES or (scheme == "file" and self.allow_files):
            return None
        if scheme == "file":
            return "file: URLs are off (ingest.allow_file_urls is false)"
        return f"scheme {scheme or '(none)'!r} is not allowed (only http and https)"

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        page: bool = False,
    ) -> FetchResult:
        """GET with If-None-Match / If-Modified-Since, within the limits; never raises.

        `page`: an article page, which may reach only public addresses (and never a file).
        """
        problem = self.scheme_error(url)
        if page and urlsplit(url).scheme.lower() not in WEB_SCHEMES:
            problem = problem or "article pages are fetched only over http and https"
        if problem:
            return FetchResult(url=url, error=problem)
        if urlsplit(url).scheme.lower() == "file":
            return await asyncio.to_thread(read_file, url, self.base_dir, self.settings.max_bytes)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        host = (urlsplit(url).hostname or "").lower()
        client = self.page_client if page else self.client
        # The host's slot first: a request queued behind its busy host must not hold one of
        # the global slots meanwhile, or other hosts' requests wait for nothing.
        async with self._hosts[host], self._all:
            try:
                async with asyncio.timeout(self.settings.deadline_seconds):
                    return await self._get(client, url, headers)
            except TimeoutError:
                return FetchResult(
                    url=url, error=f"no complete answer within {self.settings.deadline_seconds:g} s"
                )

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str]
    ) -> FetchResult:
        try:
            # Redirects are followed here, not by httpx: httpx reads (and decompresses) the
            # body of every redirect in full, past any cap.
            request = client.build_request("GET", url, headers=headers)
            hops: list[int] = []
            while True:
                response = await client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        return await self._answer(response, hops)
                    hops.append(response.status_code)
                    if len(hops) > MAX_REDIRECTS:
                        return FetchResult(url=url, error="too many redirects (a redirect loop?)")
                    request = response.next_request
                finally:
                    await response.aclose()
        except PrivateAddressError as exc:
            return FetchResult(url=url, error=f"refused: {exc}", refused=True)
        except httpx.ConnectTimeout:
            timeout = self.settings.connect_timeout_seconds
            return FetchResult(url=url, error=f"could not connect within {timeout:g} s")
        except httpx.TimeoutException:
            return FetchResult(
                url=url, error=f"no answer within {self.settings.timeout_seconds:g} s (timeout)"
            )
        except httpx.UnsupportedProtocol as exc:
            return FetchResult(url=url, error=f"redirected to an unsupported scheme: {exc}")
        except httpx.HTTPError as exc:
            return FetchResult(url=url, error=f"{exc.__class__.__name__}: {exc}")

    async def _answer(self, response: httpx.Response, hops: list[int]) -> FetchResult:
        """The final response of a request: its status, or its body within the cap."""
        cap = self.settings.max_bytes
        status = response.status_code
        final = str(response.url)
        result_headers = {k.lower(): v for k, v in response.headers.items()}
        if status == 304:
            return FetchResult(url=final, status=304, not_modified=True)
        if status >= 400:
            return _http_error(final, status, response.reason_phrase, result_headers)
        declared = result_headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return FetchResult(url=final, status=status, error=_too_big(cap, declared))
        try:
            content = await read_body(response, cap)
        except BodyError as exc:
            return FetchResult(url=final, status=status, error=str(exc))
        permanent = bool(hops) and all(code in (301, 308) for code in hops)
        return FetchResult(
            url=final,
            status=status,
            content=content,
            headers=result_headers,
            permanent_url=final if permanent else None,
        )


# ---- the body: raw bytes, decompressed here within the cap ----------------------------------


class BodyError(Exception):
    """A body refused: too large, or in an encoding not accepted. The message is for the log."""


def content_coding(header: str) -> str:
    """The one content-coding of a response ("identity" when none); BodyError otherwise."""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise BodyError(
            f"unsupported content encoding {header.strip()!r}: more than one content-coding "
            "(nested compression is refused)"
        )
    if not codings:
        return "identity"
    if codings[0] not in ACCEPTED_CODINGS:
        raise BodyError(
            f"unsupported content encoding {codings[0]!r} (only gzip and deflate are accepted)"
        )
    return codings[0]


class Inflater:
    """Decompresses gzip or deflate a piece at a time, never holding more than the cap.

    Each call inflates at most what still fits under the cap (plus one byte, to tell "over"),
    whatever the compression ratio; the rest of the input waits in zlib's unconsumed tail.
    """

    def __init__(self, coding: str, cap: int) -> None:
        self.coding = coding
        self.cap = cap
        self._zlib: zlib._Decompress | None = None
        self._head = b""  # deflate: the first bytes, until they tell zlib-wrapped from raw

    def feed(self, data: bytes, out: bytearray) -> None:
        """Inflate `data` onto `out`; stops as soon as `out` passes the cap."""
        if self._zlib is None:
            self._head += data
            if self.coding == "deflate" and len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._zlib = zlib.decompressobj(self._wbits(data))
        try:
            while data and not self._zlib.eof:
                out += self._zlib.decompress(data, self.cap - len(out) + 1)
                if len(out) > self.cap:
                    return
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise BodyError(f"cannot decompress the {self.coding} response: {exc}") from None
        # Bytes after the end of the stream are ignored, as httpx did.

    def finish(self, out: bytearray) -> None:
        if self._zlib is None:
            if self._head:  # one byte of deflate: a stream cut short
                raise BodyError(f"cannot decompress the {self.coding} response: it is truncated")
            return
        try:
            out += self._zlib.flush()
        except zlib.error as exc:
            raise BodyError(f"cannot decompress the {self.coding} response: {exc}") from None

    def _wbits(self, head: bytes) -> int:
        if self.coding != "deflate":
            return 16 + zlib.MAX_WBITS  # gzip
        # "deflate" is meant to be zlib-wrapped (RFC 9110), but some servers send it raw.
        wrapped = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS


async def read_body(response: httpx.Response, cap: int) -> bytes:
    """The decoded body of a streamed response, or BodyError when it would pass `cap`."""
    coding = content_coding(response.headers.get("content-encoding", ""))
    inflater = None if coding == "identity" else Inflater(coding, cap)
    content = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > cap:
            raise BodyError(_too_big(cap))
        if inflater is None:
            content += chunk
        else:
            inflater.feed(chunk, content)
        if len(content) > cap:
            raise BodyError(_too_big(cap))
    if inflater is not None:
        inflater.finish(content)
        if len(content) > cap:
            raise BodyError(_too_big(cap))
    return bytes(content)


# ---- pages reach public addresses only --------------------------------------------------------


class PrivateAddressError(Exception):
    """A page's host is (or resolves to) an address pages may not reach."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def private_address(address: str) -> bool:
    """Whether an IP address is one an article page may not be fetched from by default:
    loopback, private (RFC 1918), link-local, unique local (fc00::/7), shared (CGNAT,
    100.64/10), multicast, unspecified, reserved, documentation and other non-global ranges.
    An IPv4 address inside IPv6 (::ffff:a.b.c.d, NAT64) is judged as the IPv4 address.
    """
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


async def resolve(host: str, port: int) -> list[str]:
    """The host's IP addresses, in the resolver's order (an IP literal is its own answer)."""
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(answer[4][0]) for answer in answers]
    return list(dict.fromkeys(addresses))


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to public addresses.

    The host is resolved here and the connection made to the checked address itself, so a
    name cannot resolve to a public address for the check and a private one for the connect.
    TLS still verifies the certificate against the host name (httpcore passes it as SNI).
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout:g} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        public = [a for a in addresses if not private_address(a)]
        if not public:
            raise PrivateAddressError(_private_message(host, addresses[0]))
        failure: Exception | None = None
        for address in public:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddressError(f"a Unix socket ({path}) is not a public address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _private_message(host: str, address: str) -> str:
    literal = host.strip("[]").split("%")[0] == address.split("%")[0]
    where = address if literal else f"{host} resolves to {address}, which"
    return f"{where} is a private address; {_PRIVATE_HINT}"


class _PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses `PublicOnlyBackend`."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(),
        )


def _http_error(url: str, status: int, reason: str, headers: dict[str, str]) -> FetchResult:
    retry_after = headers.get("retry-after") if status in (429, 503) else None
    error = f"HTTP {status} {reason}".rstrip()
    if retry_after:
        error += f" (Retry-After: {retry_after})"
    return FetchResult(
        url=url,
        status=status,
        headers=headers,
        error=error,
        retry_after=retry_after,
        gone=status == 410,
    )


def _too_big(cap: int, declared: str = "") -> str:
    size = f" (declared {declared} bytes)" if declared else ""
    return f"response larger than ingest.max_bytes ({cap} bytes){size}"


def make_client(settings: Ingest, *, public_only: bool = False) -> httpx.AsyncClient:
    """The run's HTTP client; `public_only`: connections to public addresses only, and no
    proxy from the environment (a proxy would connect where it is told, unchecked)."""
    timeout = httpx.Timeout(
        settings.timeout_seconds,
        connect=settings.connect_timeout_seconds,
        pool=settings.deadline_seconds,
    )
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,  # followed by Fetcher._get, each hop's body unread
        transport=_PublicOnlyTransport(limits) if public_only else None,
        trust_env=not public_only,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
    )
